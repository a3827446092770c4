// Bindings for the live feeds' frame parsers: a batch of Binance frames in, numpy columns
// per symbol out, parsed with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <string>
#include <string_view>
#include <vector>

#include "convert.hpp"
#include "montalaq/market/binance_frames.hpp"

namespace py = pybind11;
namespace bn = montalaq::market::binance;
using montalaq::bindings::to_numpy;

namespace {

struct columns {
  std::vector<std::int64_t> ts;
  std::vector<double> px, sz;
  std::vector<std::int8_t> side;
  std::vector<std::uint64_t> id;
  std::vector<double> bid, ask;
};

std::string_view text_of(const py::handle& item) {
  if (PyUnicode_Check(item.ptr())) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(item.ptr(), &n);
    if (s == nullptr) throw py::error_already_set();
    return {s, static_cast<std::size_t>(n)};
  }
  if (PyBytes_Check(item.ptr()))
    return {PyBytes_AS_STRING(item.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(item.ptr()))};
  throw py::type_error("frames: expected str or bytes items");
}

using trade_row = py::typing::Tuple<py::str, py::array_t<std::int64_t>, py::array_t<double>, py::array_t<double>,
                                    py::array_t<std::int8_t>, py::array_t<std::uint64_t>>;
using quote_row = py::typing::Tuple<py::str, py::array_t<double>, py::array_t<double>>;
using parsed =
    py::typing::Tuple<py::typing::List<trade_row>, py::typing::List<quote_row>, py::typing::Dict<py::str, int>>;

parsed parse_binance(const py::typing::List<py::typing::Union<py::str, py::bytes>>& frames,
                     const std::vector<std::string>& symbols) {
  // Hold the items (and their UTF-8) for the parse: the list may change once the GIL is gone.
  std::vector<py::object> keep;
  std::vector<std::string_view> views;
  keep.reserve(frames.size());
  views.reserve(frames.size());
  for (const auto& item : frames) {
    keep.push_back(py::reinterpret_borrow<py::object>(item));
    views.push_back(text_of(item));
  }
  std::vector<columns> cols(symbols.size());
  std::size_t trades = 0, quotes = 0, control = 0, malformed = 0, unsubscribed = 0;
  {
    py::gil_scoped_release release;
    bn::trade_msg t;
    bn::quote_msg q;
    auto index = [&](std::string_view s) -> std::size_t {
      for (std::size_t i = 0; i < symbols.size(); ++i)
        if (symbols[i] == s) return i;
      return symbols.size();
    };
    for (const auto v : views) {
      switch (bn::parse_frame(v, t, q)) {
        case bn::frame_kind::trade: {
          const std::size_t i = index(t.symbol);
          if (i == symbols.size()) {
            ++unsubscribed;
            break;
          }
          auto& c = cols[i];
          c.ts.push_back(t.ts_ns);
          c.px.push_back(t.price);
          c.sz.push_back(t.size);
          c.side.push_back(t.side);
          c.id.push_back(t.id);
          ++trades;
          break;
        }
        case bn::frame_kind::quote: {
          const std::size_t i = index(q.symbol);
          if (i == symbols.size()) {
            ++unsubscribed;
            break;
          }
          cols[i].bid.push_back(q.bid);
          cols[i].ask.push_back(q.ask);
          ++quotes;
          break;
        }
        case bn::frame_kind::control: ++control; break;
        case bn::frame_kind::malformed: ++malformed; break;
      }
    }
  }
  py::list trade_out, quote_out;
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    auto& c = cols[i];
    if (!c.ts.empty())
      trade_out.append(py::make_tuple(symbols[i], to_numpy(std::move(c.ts)), to_numpy(std::move(c.px)),
                                      to_numpy(std::move(c.sz)), to_numpy(std::move(c.side)),
                                      to_numpy(std::move(c.id))));
    if (!c.bid.empty())
      quote_out.append(py::make_tuple(symbols[i], to_numpy(std::move(c.bid)), to_numpy(std::move(c.ask))));
  }
  py::dict counts;
  counts["trades"] = trades;
  counts["quotes"] = quotes;
  counts["control"] = control;
  counts["malformed"] = malformed;
  counts["unsubscribed"] = unsubscribed;
  return py::reinterpret_steal<parsed>(py::make_tuple(trade_out, quote_out, counts).release());
}

}  // namespace

void register_feeds(py::module_& m) {
  m.def("parse_binance", &parse_binance, py::arg("frames"), py::arg("symbols"),
        "Parse Binance spot frames (trade, bookTicker, control replies). Returns (trades, quotes, "
        "counts): trades [(symbol, ts_ns int64, price, size, side int8, trade_id uint64)], quotes "
        "[(symbol, bid, ask)] per subscribed symbol in frame order, and counts {trades, quotes, "
        "control, malformed, unsubscribed}.");
}
