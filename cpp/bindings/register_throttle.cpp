#include <pybind11/pybind11.h>

#include "montalaq/guard/throttle.hpp"

namespace py = pybind11;

void register_throttle(py::module_& m) { (void)m; }
