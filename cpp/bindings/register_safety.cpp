#include <pybind11/pybind11.h>

#include "montalaq/guard/safety.hpp"

namespace py = pybind11;

void register_safety(py::module_& m) { (void)m; }
