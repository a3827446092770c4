#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include "montalaq/common/log.hpp"

namespace py = pybind11;

void register_logging(py::module_& m) {
  m.def(
      "set_level",
      [](int level) {
        if (level < 0 || level > 6) throw py::value_error("level must be an spdlog level 0 (trace) .. 6 (off)");
        montalaq::log::set_level(static_cast<spdlog::level::level_enum>(level));
      },
      py::arg("level"),
      "Set the native log level (spdlog: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical, 6 off).");
  m.def(
      "drain",
      [](std::size_t max_records) {
        std::vector<montalaq::log::record> recs;
        {
          py::gil_scoped_release release;
          recs = montalaq::log::drain(max_records);
        }
        py::typing::List<py::typing::Tuple<py::int_, py::int_, py::str, py::str>> out;
        for (auto& r : recs) out.append(py::make_tuple(r.ts_ns, r.level, r.logger, r.message));
        return out;
      },
      py::arg("max_records") = 100000,
      "Remove and return buffered native records as (ts_ns, spdlog_level, logger, message) tuples.");
  m.def("dropped", &montalaq::log::dropped, "Records dropped because the native buffer was full.");
  m.attr("BUFFER_CAPACITY") = montalaq::log::buffer_capacity;
}
