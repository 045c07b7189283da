// buddy._runtime: Python bindings of the C++ runtime (runtime/include/buddy).
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bindText(py::module_ &m);
void bindRuntime(py::module_ &m);
void bindGemmini(py::module_ &m);

PYBIND11_MODULE(_runtime, m) {
  m.doc() = "Buddy C++ runtime: MemRef and Text containers, weight files, "
            "and calls into compiled models";
  m.attr("__version__") = BUDDY_VERSION;
  bindText(m);
  bindRuntime(m);
  bindGemmini(m);
}
