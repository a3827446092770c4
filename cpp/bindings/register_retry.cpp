#include <pybind11/pybind11.h>

#include "montalaq/guard/retry.hpp"

namespace py = pybind11;

void register_retry(py::module_& m) { (void)m; }
