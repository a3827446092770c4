#include <pybind11/pybind11.h>

#include "montalaq/guard/dedupe.hpp"

namespace py = pybind11;

void register_dedupe(py::module_& m) { (void)m; }
