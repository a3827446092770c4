#include <pybind11/pybind11.h>

#include "montalaq/guard/error_code.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;

void register_errors(py::module_& m) {
  py::enum_<gd::error_code>(m, "ErrorCode", "Error taxonomy shared by the core and Python (docs/semantics.md, Guards).")
      .value("INGESTION_TIMEOUT", gd::error_code::ingestion_timeout)
      .value("PROVIDER_DISCONNECTED", gd::error_code::provider_disconnected)
      .value("DUPLICATE_TICK", gd::error_code::duplicate_tick)
      .value("FRESHNESS_THRESHOLD_EXCEEDED", gd::error_code::freshness_threshold_exceeded)
      .value("ANALYSIS_ERR", gd::error_code::analysis_err)
      .value("CIRCUIT_OPEN", gd::error_code::circuit_open)
      .value("RATE_LIMITED", gd::error_code::rate_limited)
      .value("UNKNOWN", gd::error_code::unknown);
}
