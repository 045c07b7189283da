// buddy._runtime bindings of the tokenizers, the Text container and the
// streaming decoder (runtime/include/buddy/Text.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "buddy/Text.h"
#include "buddy/gguf/GGUFReader.h"
#include "buddy/tokenizer/Load.h"
#include "buddy/tokenizer/SentencePieceModel.h"

namespace py = pybind11;

namespace {

std::string toUtf8(const py::handle &text) {
  if (py::isinstance<py::bytes>(text))
    return text.cast<std::string>();
  return text.cast<std::string>(); // str: pybind11 encodes as UTF-8
}

py::str bytesToStr(const std::string &s) {
  PyObject *o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o)
    throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

/// Keeps the tokenizer alive as long as a decoder refers to it.
struct PyStreamDecoder {
  std::shared_ptr<buddy::Tokenizer> tok;
  buddy::StreamDecoder dec;
  PyStreamDecoder(std::shared_ptr<buddy::Tokenizer> t, bool keepSpecial)
      : tok(std::move(t)), dec(*tok, keepSpecial) {}
};

} // namespace

void bindText(py::module_ &m) {
  py::class_<buddy::Tokenizer, std::shared_ptr<buddy::Tokenizer>>(
      m, "Tokenizer",
      "A tokenizer read from GGUF metadata: SentencePiece BPE (LLaMA-2) or "
      "byte-level BPE (GPT-2 / SmolLM2 / LLaMA-3).")
      .def_static(
          "from_gguf",
          [](const std::string &path) {
            std::unique_ptr<buddy::Tokenizer> t = buddy::loadTokenizer(path);
            return std::shared_ptr<buddy::Tokenizer>(std::move(t));
          },
          py::arg("path"), "Builds the tokenizer described by a GGUF file's metadata.")
      .def_static(
          "from_sentencepiece",
          [](const std::string &path) {
            std::unique_ptr<buddy::Tokenizer> t = buddy::loadSentencePieceModel(path);
            return std::shared_ptr<buddy::Tokenizer>(std::move(t));
          },
          py::arg("path"), "Reads a SentencePiece BPE `.model` file (LLaMA-2 style).")
      .def(
          "encode",
          [](const buddy::Tokenizer &t, py::handle text, bool addBos, bool addEos,
             bool parseSpecial) {
            std::string s = toUtf8(text);
            buddy::EncodeOptions o;
            o.addBos = addBos;
            o.addEos = addEos;
            o.parseSpecial = parseSpecial;
            py::gil_scoped_release nogil;
            return t.encode(s, o);
          },
          py::arg("text"), py::arg("add_bos") = false, py::arg("add_eos") = false,
          py::arg("parse_special") = false,
          "Token ids of `text` (str or UTF-8 bytes). parse_special: match the text "
          "of control tokens such as '<|im_start|>'.")
      .def(
          "decode",
          [](const buddy::Tokenizer &t, const std::vector<int32_t> &ids, bool keepSpecial) {
            return bytesToStr(t.decode(ids, keepSpecial));
          },
          py::arg("ids"), py::arg("keep_special") = false,
          "Text of `ids`; invalid UTF-8 becomes U+FFFD.")
      .def(
          "decode_bytes",
          [](const buddy::Tokenizer &t, const std::vector<int32_t> &ids, bool keepSpecial) {
            return py::bytes(t.decode(ids, keepSpecial));
          },
          py::arg("ids"), py::arg("keep_special") = false)
      .def(
          "token_bytes", [](const buddy::Tokenizer &t, int32_t id) { return py::bytes(t.tokenBytes(id)); },
          py::arg("id"))
      .def("piece", &buddy::Tokenizer::piece, py::arg("id"))
      .def(
          "token_type", [](const buddy::Tokenizer &t, int32_t id) { return static_cast<int>(t.tokenType(id)); },
          py::arg("id"))
      .def_property_readonly("vocab_size", &buddy::Tokenizer::vocabSize)
      .def_property_readonly("bos_id", &buddy::Tokenizer::bosId)
      .def_property_readonly("eos_id", &buddy::Tokenizer::eosId)
      .def_property_readonly("unk_id", &buddy::Tokenizer::unkId)
      .def_property_readonly("add_bos_default", &buddy::Tokenizer::defaultAddBos)
      .def_property_readonly("add_eos_default", &buddy::Tokenizer::defaultAddEos)
      .def("stream_decoder",
           [](std::shared_ptr<buddy::Tokenizer> t, bool keepSpecial) {
             return std::make_unique<PyStreamDecoder>(std::move(t), keepSpecial);
           },
           py::arg("keep_special") = false);

  py::class_<PyStreamDecoder>(m, "StreamDecoder",
                              "Emits only complete UTF-8 text as tokens arrive.")
      .def(py::init<std::shared_ptr<buddy::Tokenizer>, bool>(), py::arg("tokenizer"),
           py::arg("keep_special") = false)
      .def(
          "push", [](PyStreamDecoder &d, int32_t id) { return bytesToStr(d.dec.push(id)); },
          py::arg("id"), "Feeds one token id; returns the newly completed text.")
      .def("flush", [](PyStreamDecoder &d) { return bytesToStr(d.dec.flush()); })
      .def("reset", [](PyStreamDecoder &d) { d.dec.reset(); })
      .def_property_readonly("pending_bytes",
                             [](const PyStreamDecoder &d) { return d.dec.pendingBytes(); });

  py::class_<buddy::Text>(m, "Text", "A string and its token ids.")
      .def(py::init<>())
      .def(py::init([](const std::string &s) { return buddy::Text(s); }), py::arg("text"))
      .def(py::init([](std::vector<int32_t> ids) { return buddy::Text(std::move(ids)); }),
           py::arg("ids"))
      .def_property_readonly("text", [](const buddy::Text &t) { return bytesToStr(t.str()); })
      .def_property("tokens", &buddy::Text::tokens, &buddy::Text::setTokens)
      .def(
          "tokenize",
          [](buddy::Text &t, const buddy::Tokenizer &tok, bool addBos, bool parseSpecial) {
            buddy::EncodeOptions o;
            o.addBos = addBos;
            o.parseSpecial = parseSpecial;
            return t.tokenize(tok, o);
          },
          py::arg("tokenizer"), py::arg("add_bos") = true, py::arg("parse_special") = false)
      .def(
          "detokenize",
          [](buddy::Text &t, const buddy::Tokenizer &tok) { return bytesToStr(t.detokenize(tok)); },
          py::arg("tokenizer"))
      .def("__len__", &buddy::Text::numTokens);

  m.def(
      "gguf_metadata",
      [](const std::string &path) {
        buddy::gguf::GGUFReader r(path);
        py::dict d;
        d["version"] = r.version();
        d["tensor_count"] = r.tensors().size();
        d["keys"] = std::vector<std::string>(r.keys().begin(), r.keys().end());
        d["alignment"] = r.alignment();
        d["data_offset"] = r.dataOffset();
        py::list tensors;
        for (const auto &t : r.tensors()) {
          py::dict td;
          td["name"] = std::string(t.name);
          td["shape"] = t.shape;
          td["type"] = t.type;
          const buddy::gguf::GGMLTypeInfo *ti = buddy::gguf::ggmlTypeInfo(t.type);
          td["type_name"] = ti ? std::string(ti->name) : "type " + std::to_string(t.type);
          td["offset"] = t.offset;
          td["nbytes"] = t.numBytes;
          tensors.append(td);
        }
        d["tensors"] = tensors;
        // Scalar values as Python objects; arrays only by length (the vocabulary's
        // 49k strings are the tokenizer's business, not the caller's).
        py::dict values, arrayLengths;
        for (std::string_view key : r.keys()) {
          const buddy::gguf::Value &v = r.get(key);
          py::str k = bytesToStr(std::string(key));
          using VT = buddy::gguf::ValueType;
          switch (v.type) {
          case VT::String: values[k] = bytesToStr(std::string(v.str)); break;
          case VT::Bool: values[k] = py::bool_(r.getBool(key)); break;
          case VT::F32: case VT::F64: values[k] = py::float_(r.getFloat(key)); break;
          case VT::I8: case VT::I16: case VT::I32: case VT::I64:
            values[k] = py::int_(r.getInt(key)); break;
          case VT::U8: case VT::U16: case VT::U32: case VT::U64:
            values[k] = py::int_(r.getUInt(key)); break;
          case VT::Array: arrayLengths[k] = py::int_(v.count); break;
          }
        }
        d["values"] = values;
        d["array_lengths"] = arrayLengths;
        d["file_size"] = r.fileSize();
        return d;
      },
      py::arg("path"),
      "Summary of a GGUF file: version, alignment, data offset (= the header's size), "
      "metadata keys, scalar metadata `values` (str/int/float/bool), `array_lengths` of the "
      "array-valued keys, and per tensor its name, shape (GGUF order), ggml type, offset in "
      "the data section and size. Reads the header only (the file is memory-mapped).");
}
