// Bindings for the per-error-type notification throttle (docs/semantics.md, "Guards"). Times are int ns (or
// anything montalaq._time.to_ns takes); None reads the wall clock here, in the binding.
// Results are dicts with `*_ns` ints; montalaq.throttle turns them into aware datetimes.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <optional>
#include <string>

#include "common.hpp"
#include "convert.hpp"
#include "montalaq/guard/throttle.hpp"

namespace py = pybind11;
namespace gd = montalaq::guard;

namespace {

using dict_t = py::typing::Dict<py::str, py::object>;

std::int64_t now_ns_of(const py::object& now) { return montalaq::bindings::now_or_wall(now, "now"); }

py::object opt_ns(const std::optional<std::int64_t>& v) {
  return v ? py::object(py::int_(*v)) : py::object(py::none());
}

dict_t entry_dict(const gd::throttle_entry& e) {
  dict_t d;
  d["error_type"] = e.error_type;
  d["count"] = e.count;
  d["first_seen_ns"] = e.first_seen_ns;
  d["last_seen_ns"] = e.last_seen_ns;
  d["message"] = e.message;
  d["resolved_at_ns"] = opt_ns(e.resolved_at_ns);
  return d;
}

dict_t summary_dict(const gd::error_summary& s) {
  dict_t d;
  d["error_type"] = s.error_type;
  d["first_occurrence_ns"] = s.first_occurrence_ns;
  d["last_occurrence_ns"] = s.last_occurrence_ns;
  d["count"] = s.count;
  d["notifications_sent"] = s.notifications_sent;
  d["resolved"] = s.resolved;
  d["resolved_at_ns"] = opt_ns(s.resolved_at_ns);
  return d;
}

gd::error_throttle make_throttle(std::int64_t default_window_ns, std::int64_t aggregation_ns,
                                 const std::map<std::string, std::int64_t>& windows, std::size_t max_types) {
  gd::error_throttle::config cfg;
  cfg.default_window_ns = default_window_ns;
  cfg.aggregation_ns = aggregation_ns;
  cfg.windows = {windows.begin(), windows.end()};  // replaces the default windows: pass them too
  cfg.max_types = max_types;
  return gd::error_throttle(std::move(cfg));
}

}  // namespace

void register_throttle(py::module_& m) {
  py::enum_<gd::throttle_decision>(m, "ThrottleDecision", "What report() decided for one error occurrence.")
      .value("NOTIFY", gd::throttle_decision::notify, "First in its window: goes out in the next digest.")
      .value("SUPPRESSED", gd::throttle_decision::suppressed, "Inside the window: counted only.");

  m.def("canonical_error_type", &gd::error_throttle::canonical_type, py::arg("error_type"),
        "The canonical (upper-case) form of an error type name; ValueError if empty, longer than 64 characters or "
        "outside [A-Za-z0-9_.:-].");

  py::class_<gd::error_throttle>(m, "ErrorThrottle", "Native per-error-type throttle; use montalaq.throttle.")
      .def(py::init(&make_throttle), py::arg("default_window_ns"), py::arg("aggregation_ns"), py::arg("windows"),
           py::arg("max_types"))
      .def(
          "_report",
          [](gd::error_throttle& t, const std::string& error_type, const py::object& now, const std::string& message) {
            return t.report(error_type, now_ns_of(now), message);
          },
          py::arg("error_type"), py::arg("now") = py::none(), py::arg("message") = "",
          "Record one occurrence; NOTIFY if it is the first in its type's window (buffered for the next digest).")
      .def(
          "_flush",
          [](gd::error_throttle& t, const py::object& now) {
            py::typing::List<dict_t> out;
            for (const auto& d : t.flush(now_ns_of(now))) {
              py::typing::List<dict_t> entries;
              for (const auto& e : d.entries) entries.append(entry_dict(e));
              dict_t digest;
              digest["seq"] = d.seq;
              digest["opened_at_ns"] = d.opened_at_ns;
              digest["entries"] = entries;
              out.append(digest);
            }
            return out;
          },
          py::arg("now") = py::none(), "Digests whose aggregation window has elapsed, oldest first.")
      .def(
          "_resolve",
          [](gd::error_throttle& t, const std::string& error_type, const py::object& now) -> std::optional<dict_t> {
            const auto r = t.resolve(error_type, now_ns_of(now));
            if (!r) return std::nullopt;
            dict_t d;
            d["error_type"] = r->error_type;
            d["resolved_at_ns"] = r->resolved_at_ns;
            d["since_ns"] = r->since_ns;
            d["last_seen_ns"] = r->last_seen_ns;
            d["count"] = r->count;
            return d;
          },
          py::arg("error_type"), py::arg("now") = py::none(),
          "The recovery message, or None (nothing active, or folded into a buffered digest).")
      .def(
          "_summary",
          [](const gd::error_throttle& t) {
            py::typing::List<dict_t> out;
            for (const auto& s : t.summary()) out.append(summary_dict(s));
            return out;
          },
          "One row per error type, sorted by type.")
      .def(
          "window_s",
          [](const gd::error_throttle& t, const std::string& error_type) {
            return static_cast<double>(t.window_ns(error_type)) / 1e9;
          },
          py::arg("error_type"), "The throttle window of a type, in seconds.")
      .def_property_readonly("next_flush_ns", &gd::error_throttle::next_flush_ns,
                             "When the oldest buffered digest is due (int ns), or None.")
      .def_property_readonly("buffered", &gd::error_throttle::buffered, "Entries waiting in digests.")
      .def_property_readonly(
          "aggregation_s",
          [](const gd::error_throttle& t) { return static_cast<double>(t.settings().aggregation_ns) / 1e9; })
      .def_property_readonly(
          "default_window_s",
          [](const gd::error_throttle& t) { return static_cast<double>(t.settings().default_window_ns) / 1e9; })
      .def_property_readonly("max_types", [](const gd::error_throttle& t) { return t.settings().max_types; })
      .def(
          "to_json",
          [](const gd::error_throttle& t) {
            return t.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          },
          "Config, every type's counts and the buffered digests as a JSON string.")
      .def(
          "load_json",
          [](gd::error_throttle& t, const std::string& text) {
            // validated whole before anything is replaced
            t = gd::error_throttle::from_json(montalaq::bindings::parse_json_doc(text, "error throttle document"));
          },
          py::arg("text"), "Replace config and state with a document from to_json(); ValueError changes nothing.");
}
