// Python bindings of buddy/MemRef.h, buddy/WeightFile.h and buddy/Model.h.
//
// Arrays cross the boundary without copies where the layout allows:
//  - weight-file tensors come out as read-only NumPy views of the mapping;
//  - Function.__call__ passes C-contiguous, aligned inputs by pointer (others
//    are copied to a contiguous temporary) and returns outputs allocated 64-byte
//    aligned by the runtime, wrapped as NumPy arrays that own their buffer;
//  - Function.bind(arrays) checks every argument (outputs too) once, builds the
//    descriptors and the `void *args[]` vector once and keeps the arrays alive:
//    calling the BoundCall is one packed call without the GIL. Bound arrays are
//    never copied (the code may write them in place, e.g. a KV cache), so they
//    must be C-contiguous and aligned; BoundCall.set(i, a) rebinds one slot.
// bf16 has no NumPy dtype: it travels as uint16 (raw bits); writers take a
// `dtype="bf16"` override and call() accepts any 2-byte integer array for a
// bf16 argument. An ml_dtypes `bfloat16` array is recognised by its name.
#include "buddy/MemRef.h"
#include "buddy/Model.h"
#include "buddy/WeightFile.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace buddy;

namespace {

constexpr int kNpyAligned = 0x0100; // NPY_ARRAY_ALIGNED

PyObject *gWeightFileError = nullptr;
PyObject *gLibraryError = nullptr;

const char *kindId(WeightFileError::Kind k) {
  using K = WeightFileError::Kind;
  switch (k) {
  case K::Io: return "io";
  case K::Truncated: return "truncated";
  case K::BadMagic: return "bad_magic";
  case K::UnsupportedVersion: return "unsupported_version";
  case K::HeaderOutOfBounds: return "header_out_of_bounds";
  case K::TensorOutOfBounds: return "tensor_out_of_bounds";
  case K::ChecksumMismatch: return "checksum_mismatch";
  case K::UnknownDType: return "unknown_dtype";
  case K::ShapeOverflow: return "shape_overflow";
  case K::InvalidEntry: return "invalid_entry";
  case K::UsageError: return "usage_error";
  }
  return "error";
}

DType dtypeFromName(const std::string &name) {
  auto t = parseDType(name);
  if (!t)
    throw py::value_error("unknown dtype '" + name +
                          "' (expected one of f32 f16 bf16 f64 i8 i16 i32 i64 bool)");
  return *t;
}

py::dtype numpyDType(DType t) {
  switch (t) {
  case DType::F32: return py::dtype("float32");
  case DType::F16: return py::dtype("float16");
  case DType::BF16: return py::dtype("uint16"); // raw bits
  case DType::I8: return py::dtype("int8");
  case DType::I16: return py::dtype("int16");
  case DType::I32: return py::dtype("int32");
  case DType::I64: return py::dtype("int64");
  case DType::Bool: return py::dtype("bool");
  case DType::F64: return py::dtype("float64");
  }
  throw std::logic_error("bad dtype");
}

/// The Buddy dtype of a NumPy array, or nullopt (uint16 is only bf16 when
/// asked for, see dtypeFor).
std::optional<DType> dtypeOfArray(const py::array &a) {
  py::dtype dt = a.dtype();
  char kind = dt.kind();
  ssize_t size = dt.itemsize();
  if (py::str(dt.attr("name")).cast<std::string>() == "bfloat16" && size == 2)
    return DType::BF16;
  if (kind == 'f')
    return size == 4 ? std::optional(DType::F32)
           : size == 2 ? std::optional(DType::F16)
           : size == 8 ? std::optional(DType::F64) : std::nullopt;
  if (kind == 'i')
    return size == 1 ? std::optional(DType::I8)
           : size == 2 ? std::optional(DType::I16)
           : size == 4 ? std::optional(DType::I32)
           : size == 8 ? std::optional(DType::I64) : std::nullopt;
  if (kind == 'b' && size == 1)
    return DType::Bool;
  return std::nullopt;
}

std::string describe(const py::array &a) {
  return py::str(a.dtype()).cast<std::string>();
}

/// Resolve the Buddy dtype of `a`. `want` is an explicit dtype (writer
/// override or the argument's spec): a 2-byte array may stand for bf16, and
/// any same-size override is taken as a reinterpretation of the bits.
DType dtypeFor(const py::array &a, std::optional<DType> want, bool overrideBits,
               const std::string &who) {
  char order = a.dtype().attr("byteorder").cast<std::string>()[0];
  if (order == '>')
    throw py::type_error(who + ": big-endian arrays are not supported");
  auto have = dtypeOfArray(a);
  if (want) {
    char kind = a.dtype().kind();
    bool rawBf16 = *want == DType::BF16 && a.dtype().itemsize() == 2 && (kind == 'u' || kind == 'i');
    bool reinterpret = overrideBits && static_cast<size_t>(a.dtype().itemsize()) == dtypeSize(*want);
    if (rawBf16 || reinterpret)
      return *want;
    if (overrideBits)
      throw py::type_error(who + ": dtype override '" + dtypeName(*want) + "' needs " +
                           std::to_string(dtypeSize(*want)) + "-byte elements, array has " +
                           describe(a));
  }
  if (!have)
    throw py::type_error(who + ": unsupported array dtype " + describe(a) +
                         (a.dtype().kind() == 'u' && a.dtype().itemsize() == 2
                              ? " (for bfloat16 bits pass dtype='bf16')"
                              : ""));
  return *have;
}

/// A C-contiguous, aligned array over `obj` (a copy only if needed).
py::array asContiguous(py::handle obj, const std::string &who) {
  py::array a = py::array::ensure(obj, py::array::c_style | kNpyAligned);
  if (!a)
    throw py::type_error(who + ": cannot view " +
                         py::str(py::type::handle_of(obj)).cast<std::string>() +
                         " as an array (torch bfloat16 tensors: use buddy.runtime helpers, "
                         "or pass t.view(torch.int16).numpy() for a bf16 argument)");
  return a;
}

Shape shapeOf(const py::array &a) {
  Shape s;
  for (ssize_t i = 0; i < a.ndim(); ++i)
    s.push_back(static_cast<int64_t>(a.shape(i)));
  return s;
}

/// Borrow a contiguous array as a MemRef (the caller keeps `a` alive).
MemRef borrowArray(const py::array &a, DType t) {
  return MemRef::borrow(t, const_cast<void *>(a.data()), shapeOf(a), {}, nullptr,
                        /*readOnly=*/!a.writeable());
}

/// A NumPy array viewing `m`; the array keeps `m`'s buffer alive.
py::array toNumpy(const MemRef &m, bool readOnly) {
  auto *holder = new MemRef(m);
  py::capsule base(holder, [](void *p) { delete static_cast<MemRef *>(p); });
  std::vector<ssize_t> shape, strides;
  for (size_t i = 0; i < m.rank(); ++i) {
    shape.push_back(static_cast<ssize_t>(m.shape()[i]));
    strides.push_back(static_cast<ssize_t>(m.strides()[i] * static_cast<int64_t>(m.elementSize())));
  }
  py::array a(numpyDType(m.dtype()), shape, strides, m.data(), base);
  if (readOnly)
    a.attr("flags").attr("writeable") = false;
  return a;
}

Shape shapeFromPy(py::handle h) {
  Shape s;
  for (py::handle d : h)
    s.push_back(d.cast<int64_t>());
  return s;
}

/// TensorSpec, a (name, dtype, shape) / (dtype, shape) tuple, or any object
/// with .name/.dtype/.shape (the frontend's and backend's specs).
TensorSpec specFromPy(py::handle h, size_t index) {
  if (py::isinstance<TensorSpec>(h))
    return h.cast<TensorSpec>();
  TensorSpec s;
  if (py::isinstance<py::tuple>(h) || py::isinstance<py::list>(h)) {
    py::sequence seq = h.cast<py::sequence>();
    if (seq.size() == 3) {
      s.name = seq[0].cast<std::string>();
      s.dtype = dtypeFromName(seq[1].cast<std::string>());
      s.shape = shapeFromPy(seq[2]);
      return s;
    }
    if (seq.size() == 2) {
      s.name = "arg" + std::to_string(index);
      s.dtype = dtypeFromName(seq[0].cast<std::string>());
      s.shape = shapeFromPy(seq[1]);
      return s;
    }
  } else if (py::hasattr(h, "dtype") && py::hasattr(h, "shape")) {
    s.name = py::hasattr(h, "name") ? py::str(h.attr("name")).cast<std::string>()
                                    : "arg" + std::to_string(index);
    s.dtype = dtypeFromName(py::str(h.attr("dtype")).cast<std::string>());
    s.shape = shapeFromPy(h.attr("shape"));
    return s;
  }
  throw py::type_error("spec " + std::to_string(index) +
                       ": expected TensorSpec, (name, dtype, shape) or (dtype, shape)");
}

std::vector<TensorSpec> specsFromPy(py::handle seq, size_t first = 0) {
  std::vector<TensorSpec> out;
  size_t i = first;
  for (py::handle h : seq)
    out.push_back(specFromPy(h, i++));
  return out;
}

/// A compiled function with its signature: call(*arrays) -> [outputs], or
/// bind(arrays) -> PyBoundCall for repeated calls over the same buffers.
class PyFunction {
public:
  PyFunction(Library lib, std::string name, std::vector<TensorSpec> inputs,
             std::vector<TensorSpec> outputs)
      : lib_(std::move(lib)), name_(std::move(name)), symbol_("_buddy_" + name_),
        fn_(lib_.function(name_)) {
    sig_.args = std::move(inputs);
    sig_.numOutputs = outputs.size();
    for (TensorSpec &s : outputs)
      sig_.args.push_back(std::move(s));
  }

  py::list call(const py::sequence &args) const {
    const size_t nIn = sig_.numInputs();
    if (args.size() != nIn)
      throw py::type_error(symbol_ + " takes " + std::to_string(nIn) + " inputs (" +
                           argNames(0, nIn) + "), got " + std::to_string(args.size()));
    std::vector<py::array> keep; // alive until the call returns
    keep.reserve(nIn);
    std::vector<MemRef> mems;
    mems.reserve(sig_.args.size());
    for (size_t i = 0; i < nIn; ++i) {
      const TensorSpec &spec = sig_.args[i];
      std::string who = argWho(i);
      py::array a = asContiguous(args[i], who);
      DType t = dtypeFor(a, spec.dtype, /*overrideBits=*/false, who);
      keep.push_back(a);
      mems.push_back(borrowArray(a, t));
      mems.back().checkMatches(spec, i);
    }
    for (size_t i = nIn; i < sig_.args.size(); ++i)
      mems.push_back(MemRef::allocate(sig_.args[i].dtype, sig_.args[i].shape));
    // Descriptors are built while holding the GIL; the call runs without it.
    std::vector<MemRefDescriptor> descs;
    descs.reserve(mems.size());
    std::vector<void *> ptrs;
    ptrs.reserve(mems.size());
    for (const MemRef &m : mems) {
      descs.push_back(m.descriptor());
      ptrs.push_back(descs.back().data());
    }
    {
      py::gil_scoped_release release;
      fn_(ptrs.data());
    }
    py::list outs;
    for (size_t i = nIn; i < mems.size(); ++i)
      outs.append(toNumpy(mems[i], /*readOnly=*/false));
    return outs;
  }

  /// "argument i ('name')" for error messages.
  std::string argWho(size_t i) const {
    const TensorSpec &spec = sig_.args[i];
    return "argument " + std::to_string(i) + " ('" + spec.name + "')";
  }
  std::string argNames(size_t from, size_t to) const {
    std::string names;
    for (size_t i = from; i < to; ++i)
      names += (i > from ? ", " : "") + sig_.args[i].name;
    return names;
  }

  const std::string &name() const { return name_; }
  const std::string &symbol() const { return symbol_; }
  const Signature &signature() const { return sig_; }
  const Library &library() const { return lib_; }
  PackedFunction packed() const { return fn_; }
  std::vector<TensorSpec> inputs() const {
    return {sig_.args.begin(), sig_.args.begin() + static_cast<ptrdiff_t>(sig_.numInputs())};
  }
  std::vector<TensorSpec> outputs() const {
    return {sig_.args.begin() + static_cast<ptrdiff_t>(sig_.numInputs()), sig_.args.end()};
  }

private:
  Library lib_;
  std::string name_;
  std::string symbol_;
  PackedFunction fn_;
  Signature sig_;
};

/// Every argument of a PyFunction (inputs then outputs) bound to a NumPy
/// array: checked once, descriptors and the `void *args[]` vector built once,
/// arrays referenced here. Arrays are used in place (never copied), so the
/// compiled code reads and writes exactly the caller's buffers.
class PyBoundCall {
public:
  PyBoundCall(const PyFunction &fn, const py::sequence &arrays)
      : lib_(fn.library()), fn_(fn.packed()), symbol_(fn.symbol()), sig_(fn.signature()) {
    const size_t n = sig_.args.size();
    if (arrays.size() != n)
      throw py::type_error(symbol_ + ".bind: takes " + std::to_string(n) + " arrays (" +
                           std::to_string(sig_.numInputs()) + " inputs, " +
                           std::to_string(sig_.numOutputs) + " outputs: " + fn.argNames(0, n) +
                           "), got " + std::to_string(arrays.size()));
    for (size_t i = 0; i < n; ++i)
      who_.push_back(fn.argWho(i));
    arrays_.resize(n);
    descs_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto [a, desc] = checkOne(i, arrays[i]);
      arrays_[i] = std::move(a);
      descs_.push_back(std::move(desc));
    }
    ptrs_.resize(n);
    for (size_t i = 0; i < n; ++i)
      ptrs_[i] = descs_[i].data();
  }

  /// Point slot `i` at `obj` (checked like bind(); no copy).
  void set(ssize_t index, py::handle obj) {
    const ssize_t n = static_cast<ssize_t>(sig_.args.size());
    if (index < 0)
      index += n;
    if (index < 0 || index >= n)
      throw py::index_error(symbol_ + ": argument index " + std::to_string(index) +
                            " out of range (" + std::to_string(n) + " arguments)");
    size_t i = static_cast<size_t>(index);
    auto [a, desc] = checkOne(i, obj);
    descs_[i] = std::move(desc);
    ptrs_[i] = descs_[i].data();
    arrays_[i] = std::move(a);
  }

  void call() {
    py::gil_scoped_release release;
    fn_(ptrs_.data());
  }

  py::list arrays() const {
    py::list out;
    for (const py::array &a : arrays_)
      out.append(a);
    return out;
  }
  py::array get(ssize_t index) const {
    const ssize_t n = static_cast<ssize_t>(arrays_.size());
    if (index < 0)
      index += n;
    if (index < 0 || index >= n)
      throw py::index_error(symbol_ + ": argument index out of range");
    return arrays_[static_cast<size_t>(index)];
  }
  size_t size() const { return arrays_.size(); }
  const std::string &symbol() const { return symbol_; }

private:
  std::pair<py::array, MemRefDescriptor> checkOne(size_t i, py::handle obj) const {
    const TensorSpec &spec = sig_.args[i];
    const std::string &who = who_[i];
    bool isOutput = i >= sig_.numInputs();
    if (!py::isinstance<py::array>(obj))
      throw py::type_error(symbol_ + ": " + who + ": bound arguments must be NumPy arrays "
                           "(they are used in place, never copied), got " +
                           py::str(py::type::handle_of(obj)).cast<std::string>());
    py::array a = py::reinterpret_borrow<py::array>(obj);
    DType t = dtypeFor(a, spec.dtype, /*overrideBits=*/false, symbol_ + ": " + who);
    if (!(a.flags() & py::array::c_style) || !(a.flags() & kNpyAligned))
      throw py::value_error(symbol_ + ": " + who +
                            ": bound arrays must be C-contiguous and aligned (no copy is made)");
    MemRef m = borrowArray(a, t);
    m.checkMatches(spec, i, isOutput);
    return {std::move(a), m.descriptor()};
  }

  Library lib_; // keeps the code mapped
  PackedFunction fn_;
  std::string symbol_;
  Signature sig_;
  std::vector<std::string> who_;
  std::vector<py::array> arrays_;
  std::vector<MemRefDescriptor> descs_;
  std::vector<void *> ptrs_;
};

/// Streaming writer; the Python object owns the C++ writer until close().
class PyWriter {
public:
  explicit PyWriter(const std::string &path) : path_(path), w_(std::make_unique<WeightFileWriter>(path)) {}

  void add(const std::string &name, py::handle obj, std::optional<std::string> dtype) {
    if (!w_)
      throw WeightFileError(WeightFileError::Kind::UsageError, path_,
                            "add('" + name + "') after close()");
    std::string who = "tensor '" + name + "'";
    py::array a = asContiguous(obj, who);
    std::optional<DType> want;
    if (dtype)
      want = dtypeFromName(*dtype);
    DType t = dtypeFor(a, want, /*overrideBits=*/true, who);
    Shape shape = shapeOf(a);
    const void *data = a.data();
    py::gil_scoped_release release; // `a` stays referenced by this frame
    w_->add(name, t, shape, data);
  }

  void close() {
    if (!w_)
      throw WeightFileError(WeightFileError::Kind::UsageError, path_, "close() called twice");
    std::unique_ptr<WeightFileWriter> w = std::move(w_);
    py::gil_scoped_release release;
    w->close();
  }

  /// Drop the partial file (used when a `with` block raises).
  void discard() { w_.reset(); }
  bool closed() const { return !w_; }
  size_t count() const { return w_ ? w_->count() : 0; }
  const std::string &path() const { return path_; }

private:
  std::string path_;
  std::unique_ptr<WeightFileWriter> w_;
};

std::string specRepr(const TensorSpec &s) {
  std::string shape = "(";
  for (size_t i = 0; i < s.shape.size(); ++i)
    shape += std::to_string(s.shape[i]) + (s.shape.size() == 1 ? "," : i + 1 < s.shape.size() ? ", " : "");
  shape += ")";
  return "TensorSpec('" + s.name + "', '" + dtypeName(s.dtype) + "', " + shape + ")";
}

py::tuple shapeTuple(const Shape &s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    t[i] = py::int_(s[i]);
  return t;
}

} // namespace

void bindRuntime(py::module_ &m) {
  gWeightFileError = PyErr_NewExceptionWithDoc(
      "buddy._runtime.WeightFileError",
      "A weight file is truncated, corrupt or mismatched; .kind names the problem.",
      PyExc_ValueError, nullptr);
  gLibraryError = PyErr_NewExceptionWithDoc(
      "buddy._runtime.LibraryError",
      "A compiled model library cannot be loaded or lacks a function.", PyExc_OSError, nullptr);
  m.add_object("WeightFileError", py::handle(gWeightFileError));
  m.add_object("LibraryError", py::handle(gLibraryError));

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const WeightFileError &e) {
      py::object exc = py::reinterpret_steal<py::object>(
          PyObject_CallFunction(gWeightFileError, "s", e.what()));
      if (!exc)
        return; // the Python error from the call is already set
      exc.attr("kind") = kindId(e.kind());
      PyErr_SetObject(gWeightFileError, exc.ptr());
    } catch (const LibraryError &e) {
      PyErr_SetString(gLibraryError, e.what());
    } catch (const ArgumentError &e) {
      bool typeErr = e.kind() == ArgumentError::Kind::Count || e.kind() == ArgumentError::Kind::DType;
      PyErr_SetString(typeErr ? PyExc_TypeError : PyExc_ValueError, e.what());
    }
  });

  m.def("dtypes", [] {
    std::vector<std::string> out;
    for (uint8_t c = 0; c < kNumDTypes; ++c)
      out.push_back(dtypeName(static_cast<DType>(c)));
    return out;
  }, "Names of the element types the runtime knows.");
  m.def("aligned_empty", [](const std::string &dtype, py::handle shape) {
    return toNumpy(MemRef::allocate(dtypeFromName(dtype), shapeFromPy(shape)), false);
  }, py::arg("dtype"), py::arg("shape"),
        "A zero-filled array whose buffer is 64-byte aligned and owned by the runtime.");

  py::class_<TensorSpec>(m, "TensorSpec", "Name, dtype and shape of a tensor or argument.")
      .def(py::init([](std::string name, const std::string &dtype, py::handle shape) {
             return TensorSpec{std::move(name), dtypeFromName(dtype), shapeFromPy(shape)};
           }),
           py::arg("name"), py::arg("dtype"), py::arg("shape"))
      .def_readonly("name", &TensorSpec::name)
      .def_property_readonly("dtype", [](const TensorSpec &s) { return std::string(dtypeName(s.dtype)); })
      .def_property_readonly("shape", [](const TensorSpec &s) { return shapeTuple(s.shape); })
      .def("__eq__", [](const TensorSpec &a, const TensorSpec &b) {
        return a.name == b.name && a.dtype == b.dtype && a.shape == b.shape;
      })
      .def("__repr__", &specRepr);

  py::class_<PyWriter>(m, "WeightFileWriter",
                       "Streams tensors into a weight file; close() makes it visible at `path`.")
      .def(py::init<const std::string &>(), py::arg("path"))
      .def("add", &PyWriter::add, py::arg("name"), py::arg("array"), py::arg("dtype") = py::none(),
           "Append an array (anything NumPy can view). `dtype` overrides the element type "
           "with one of the same size, e.g. dtype='bf16' for uint16 bfloat16 bits.")
      .def("close", &PyWriter::close)
      .def_property_readonly("path", &PyWriter::path)
      .def_property_readonly("closed", &PyWriter::closed)
      .def("__len__", &PyWriter::count)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyWriter &w, py::handle type, py::handle, py::handle) {
        if (w.closed())
          return false;
        if (type.is_none())
          w.close();
        else
          w.discard();
        return false;
      });

  py::class_<WeightFile>(m, "WeightFile",
                         "A memory-mapped weight file; w[name] is a read-only zero-copy array "
                         "(bf16 as uint16 bits, see dtype(name)).")
      .def(py::init([](const std::string &path, bool verifyData) {
             py::gil_scoped_release release;
             return WeightFile::open(path, verifyData);
           }),
           py::arg("path"), py::arg("verify_data") = false)
      .def_static("from_bytes", [](py::bytes data, bool verifyData) {
             std::string_view v = data;
             MemRef buf = MemRef::allocate(DType::I8, {static_cast<int64_t>(v.size())});
             std::memcpy(buf.data(), v.data(), v.size());
             return WeightFile::fromBuffer(buf.storage(), static_cast<const unsigned char *>(buf.data()),
                                           v.size(), "<bytes>", verifyData);
           }, py::arg("data"), py::arg("verify_data") = false,
           "Parse a weight file held in memory (copied into an aligned buffer).")
      .def_property_readonly("path", &WeightFile::path)
      .def_property_readonly("file_size", &WeightFile::fileSize)
      .def("names", &WeightFile::names)
      .def("specs", &WeightFile::specs)
      .def("dtype", [](const WeightFile &w, const std::string &n) {
        return std::string(dtypeName(w.entry(n).spec.dtype));
      }, py::arg("name"))
      .def("verify_data", [](const WeightFile &w) {
        py::gil_scoped_release release;
        w.verifyData();
      }, "Recompute the data checksum (reads every page).")
      .def("__len__", &WeightFile::size)
      .def("__contains__", &WeightFile::contains)
      .def("__iter__", [](const WeightFile &w) { return py::iter(py::cast(w.names())); })
      .def("__getitem__", [](const WeightFile &w, const std::string &n) {
        if (!w.contains(n))
          throw py::key_error("no tensor named '" + n + "' in " + w.path());
        return toNumpy(w.tensor(n), /*readOnly=*/true);
      });

  py::class_<PyBoundCall>(m, "BoundCall",
                          "Function.bind(arrays): every argument bound to an array; b() calls "
                          "with the GIL released, b.set(i, array) rebinds one slot.")
      .def("__call__", &PyBoundCall::call)
      .def("set", &PyBoundCall::set, py::arg("index"), py::arg("array"),
           "Rebind argument `index` (inputs then outputs) to `array`: checked like bind(), "
           "C-contiguous, never copied.")
      .def("__getitem__", &PyBoundCall::get, py::arg("index"))
      .def("__len__", &PyBoundCall::size)
      .def_property_readonly("arrays", &PyBoundCall::arrays)
      .def_property_readonly("symbol", &PyBoundCall::symbol);

  py::class_<PyFunction>(m, "Function",
                         "A compiled function: f(*inputs) -> [outputs]; f.bind(arrays) -> BoundCall.")
      .def("__call__", [](const PyFunction &f, py::args args) { return f.call(args); })
      .def("bind", [](const PyFunction &f, const py::sequence &arrays) { return PyBoundCall(f, arrays); },
           py::arg("arrays"),
           "Bind every argument (inputs, then outputs) to a NumPy array, checked once; the "
           "arrays are used in place and kept alive by the returned BoundCall.")
      .def_property_readonly("symbol", &PyFunction::symbol)
      .def_property_readonly("name", &PyFunction::name)
      .def_property_readonly("inputs", &PyFunction::inputs)
      .def_property_readonly("outputs", &PyFunction::outputs);

  py::class_<Library>(m, "Library", "A dlopen'ed compiled model (`_buddy_<fn>` entry points).")
      .def(py::init<const std::string &>(), py::arg("path"))
      .def_property_readonly("path", &Library::path)
      .def("has", &Library::has, py::arg("fn"))
      .def("function", [](const Library &lib, const std::string &fn, py::handle inputs, py::handle outputs) {
             std::vector<TensorSpec> ins = specsFromPy(inputs);
             return PyFunction(lib, fn, ins, specsFromPy(outputs, ins.size()));
           }, py::arg("fn"), py::arg("inputs"), py::arg("outputs"),
           "Bind `_buddy_<fn>` to its signature: inputs (params then user inputs) and outputs, "
           "each a TensorSpec, (name, dtype, shape) or (dtype, shape).")
      .def("call", [](const Library &lib, const std::string &fn, const py::sequence &args,
                      py::handle inputs, py::handle outputs) {
             std::vector<TensorSpec> ins = specsFromPy(inputs);
             return PyFunction(lib, fn, ins, specsFromPy(outputs, ins.size())).call(args);
           }, py::arg("fn"), py::arg("args"), py::arg("inputs"), py::arg("outputs"),
           "Check `args` against `inputs`, allocate `outputs`, call `_buddy_<fn>` without the "
           "GIL and return the outputs as NumPy arrays.");
}
