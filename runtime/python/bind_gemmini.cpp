// buddy._runtime.gemmini: the Gemmini functional model (runtime/gemmini) for
// tests that drive instruction sequences from Python.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <vector>

#include "buddy/gemmini/Isa.h"
#include "buddy/gemmini/Model.h"

namespace py = pybind11;
namespace gm = buddy::gemmini;

namespace {

/// The model plus the Python buffers it may read and write as "DRAM" (kept
/// alive as long as they are mapped).
struct PyModel {
  gm::Model model;
  std::vector<py::buffer_info> mapped;

  uint64_t map(const py::buffer &b) {
    py::buffer_info info = b.request(/*writable=*/true);
    for (py::ssize_t i = info.ndim - 1, expect = info.itemsize; i >= 0; --i) {
      if (info.strides[i] != expect)
        throw py::value_error("gemmini: a mapped buffer must be C-contiguous");
      expect *= info.shape[i];
    }
    uint64_t base = uint64_t(uintptr_t(info.ptr));
    model.mapDram(base, uint64_t(info.size) * uint64_t(info.itemsize));
    mapped.push_back(std::move(info));
    return base;
  }
};

} // namespace

void bindGemmini(py::module_ &parent) {
  py::module_ m = parent.def_submodule(
      "gemmini", "Functional model of the Gemmini accelerator (default configuration)");
  py::register_exception<gm::GemminiError>(m, "GemminiError", PyExc_RuntimeError);

  py::dict funct;
  const char *names[gm::kNumFuncts] = {
      "config", "mvin2", "mvin", "mvout", "compute_preloaded", "compute_accumulated", "preload",
      "flush", "loop_ws", "loop_ws_config_bounds", "loop_ws_config_addrs_ab",
      "loop_ws_config_addrs_dc", "loop_ws_config_strides_ab", "loop_ws_config_strides_dc",
      "mvin3"};
  for (uint32_t i = 0; i < gm::kNumFuncts; ++i)
    funct[names[i]] = i;
  m.attr("FUNCT") = funct;
  m.attr("OPCODE_CUSTOM3") = gm::kOpcodeCustom3;
  m.attr("GARBAGE_ADDR") = gm::kGarbageAddr;

  m.def("encode", [](uint32_t f, uint32_t rs1, uint32_t rs2) {
        return gm::encodeGemmini(static_cast<gm::Funct>(f), rs1, rs2);
      }, py::arg("funct"), py::arg("rs1_reg"), py::arg("rs2_reg"),
      "The RoCC word of Gemmini instruction `funct` reading x<rs1_reg>, x<rs2_reg>");
  m.def("decode", [](uint32_t word) {
        gm::RoccWord w = gm::decodeRocc(word);
        py::dict d;
        d["opcode"] = w.opcode;
        d["funct7"] = w.funct7;
        d["rd"] = w.rd;
        d["rs1"] = w.rs1;
        d["rs2"] = w.rs2;
        d["xd"] = w.xd;
        d["xs1"] = w.xs1;
        d["xs2"] = w.xs2;
        return d;
      }, py::arg("word"));

  py::class_<PyModel>(m, "Model")
      .def(py::init<>())
      .def_property_readonly("params", [](const PyModel &s) {
        const gm::Params &p = s.model.params();
        py::dict d;
        d["dim"] = p.dim;
        d["sp_rows"] = p.spRows();
        d["acc_rows"] = p.accRows;
        d["dma_max_bytes"] = p.dmaMaxBytes;
        d["output_bits"] = p.outputBits;
        return d;
      })
      .def("map", &PyModel::map, py::arg("buffer"),
           "Allow DRAM accesses to a C-contiguous writable buffer; returns its address")
      .def("execute", [](PyModel &s, uint32_t f, uint64_t rs1, uint64_t rs2) {
             s.model.execute(f, rs1, rs2);
           }, py::arg("funct"), py::arg("rs1"), py::arg("rs2"))
      .def("execute_word", [](PyModel &s, uint32_t w, uint64_t rs1, uint64_t rs2) {
             s.model.executeWord(w, rs1, rs2);
           }, py::arg("word"), py::arg("rs1"), py::arg("rs2"))
      .def("run", [](PyModel &s, const std::vector<std::tuple<uint32_t, uint64_t, uint64_t>> &prog,
                     bool asWords) {
             for (const auto &[f, rs1, rs2] : prog) {
               if (asWords)
                 s.model.executeWord(gm::encodeGemmini(static_cast<gm::Funct>(f), 10, 11), rs1,
                                     rs2);
               else
                 s.model.execute(f, rs1, rs2);
             }
           }, py::arg("program"), py::arg("as_words") = true,
           "Execute (funct, rs1, rs2) triples, by default through their RoCC words")
      .def("counters", [](const PyModel &s) {
        const gm::Counters &c = s.model.counters();
        py::dict d, by;
        for (uint32_t i = 0; i < gm::kNumFuncts; ++i)
          by[py::int_(i)] = c.byFunct[i];
        d["by_funct"] = by;
        d["instructions"] = c.instructions;
        d["bytes_in"] = c.bytesIn;
        d["bytes_out"] = c.bytesOut;
        d["macs"] = c.macs;
        return d;
      })
      .def("sp_row", [](const PyModel &s, uint32_t row) {
        std::vector<int> r;
        for (uint32_t j = 0; j < s.model.params().dim; ++j)
          r.push_back(s.model.sp(row, j));
        return r;
      })
      .def("acc_row", [](const PyModel &s, uint32_t row) {
        std::vector<int64_t> r;
        for (uint32_t j = 0; j < s.model.params().dim; ++j)
          r.push_back(s.model.acc(row, j));
        return r;
      });
}
