// Bindings for the market core: timeframes, batch bars/features, MarketEngine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>

#include "common.hpp"
#include "convert.hpp"
#include "montalaq/market/bar_builder.hpp"
#include "montalaq/market/engine.hpp"
#include "montalaq/market/features.hpp"
#include "montalaq/market/timeframe.hpp"

namespace py = pybind11;
namespace mk = montalaq::market;
using montalaq::bindings::deprecated_kw;
using montalaq::bindings::deprecated_now;
using montalaq::bindings::json_to_py;
using montalaq::bindings::now_or_wall;
using montalaq::bindings::to_ns;
using montalaq::bindings::to_numpy;
using montalaq::bindings::view;

namespace {

using i64_array = py::array_t<std::int64_t, py::array::c_style>;
using f64_array = py::array_t<double, py::array::c_style>;
using i8_array = py::array_t<std::int8_t, py::array::c_style>;
using u64_array = py::array_t<std::uint64_t, py::array::c_style>;
using columns_t = py::typing::Dict<py::str, py::object>;
using counts_t = py::typing::Dict<py::str, py::int_>;

// A bar as Python sees it: the bar, where it belongs, and its features (NaN while open).
struct py_bar {
  std::string symbol;
  std::string timeframe;
  mk::bar b;
  mk::feature_values f;
};

columns_t columns_to_dict(mk::bar_columns&& c) {
  py::dict d;
  d["start_ns"] = to_numpy(std::move(c.start_ns));
  d["open"] = to_numpy(std::move(c.open));
  d["high"] = to_numpy(std::move(c.high));
  d["low"] = to_numpy(std::move(c.low));
  d["close"] = to_numpy(std::move(c.close));
  d["volume"] = to_numpy(std::move(c.volume));
  d["vwap"] = to_numpy(std::move(c.vwap));
  d["trades"] = to_numpy(std::move(c.trades));
  d["buy_volume"] = to_numpy(std::move(c.buy_volume));
  return d;
}

columns_t features_to_dict(mk::feature_columns&& f) {
  py::dict d;
  d["atr"] = to_numpy(std::move(f.atr));
  d["mom_bps"] = to_numpy(std::move(f.mom_bps));
  d["px_vs_vwap_bps"] = to_numpy(std::move(f.px_vs_vwap_bps));
  d["rvol"] = to_numpy(std::move(f.rvol));
  return d;
}

counts_t counts_dict(const std::array<std::int64_t, mk::trade_status_count>& c) {
  py::dict d;
  for (int i = 0; i < mk::trade_status_count; ++i) {
    d[py::str(std::string(mk::to_string(static_cast<mk::trade_status>(i))))] = c[static_cast<std::size_t>(i)];
  }
  return d;
}

counts_t engine_counts_dict(const mk::engine_counts& c) {
  counts_t d = counts_dict(c.trades);
  d["quotes_accepted"] = c.quotes_accepted;
  d["quotes_rejected"] = c.quotes_rejected;
  d["quotes_stale"] = c.quotes_stale;
  d["quotes_crossed"] = c.quotes_crossed;
  d["bars_closed"] = c.bars_closed;
  d["gaps_unfilled"] = c.gaps_unfilled;
  return d;
}

// The engine plus the lock that makes it safe to share between Python threads: the GIL
// is released during chunked ingest, so the GIL alone does not serialise access.
class py_engine {
 public:
  explicit py_engine(mk::engine_config cfg) : eng_(std::move(cfg)) {
    for (const auto tf : eng_.config().timeframes_ns) labels_.push_back(mk::timeframe_label(tf));
  }

  py::typing::Tuple<mk::trade_status, py::typing::List<py_bar>> on_trade(const std::string& symbol, py::handle ts,
                                                                         double price, double size, int side,
                                                                         std::optional<std::uint64_t> trade_id) {
    mk::trade t;
    t.ts_ns = to_ns(ts, "ts_ns");
    t.price = price;
    t.size = size;
    t.side = check_side(side);
    t.has_id = trade_id.has_value();
    t.trade_id = trade_id.value_or(0);
    mk::trade_status st;
    py::list closed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      st = eng_.on_trade(symbol, t);
      for (const auto& cb : eng_.closed()) closed.append(make_bar(cb));
    }
    return py::reinterpret_steal<py::typing::Tuple<mk::trade_status, py::typing::List<py_bar>>>(
        py::make_tuple(status_object(st), closed).release());
  }

  py::typing::Tuple<counts_t, py::typing::List<py_bar>> on_trades(const std::string& symbol, const i64_array& ts,
                                                                  const f64_array& price, const f64_array& size,
                                                                  std::optional<i8_array> side,
                                                                  std::optional<u64_array> trade_id) {
    const auto ts_v = view(ts);
    const auto px_v = view(price);
    const auto sz_v = view(size);
    const std::span<const std::int8_t> side_v = side ? view(*side) : std::span<const std::int8_t>{};
    const std::span<const std::uint64_t> id_v = trade_id ? view(*trade_id) : std::span<const std::uint64_t>{};
    for (const auto s : side_v) check_side(s);
    std::array<std::int64_t, mk::trade_status_count> counts{};
    std::vector<mk::closed_bar> closed;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      counts = eng_.on_trades(std::string_view(symbol), ts_v, px_v, sz_v, side_v, id_v);
      closed.assign(eng_.closed().begin(), eng_.closed().end());
    }
    py::list out;
    for (const auto& cb : closed) out.append(make_bar(cb));
    return py::reinterpret_steal<py::typing::Tuple<counts_t, py::typing::List<py_bar>>>(
        py::make_tuple(counts_dict(counts), out).release());
  }

  mk::quote_status on_quote(const std::string& symbol, py::handle ts, double bid, double ask) {
    const std::int64_t t = to_ns(ts, "ts_ns");
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint32_t sym = eng_.symbol_index(symbol);
    if (sym == mk::market_engine::npos) return mk::quote_status::rejected;
    return eng_.on_quote(sym, t, bid, ask);
  }

  void set_hold(const std::string& symbol, bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto sym = eng_.find_symbol(symbol);
    if (sym == mk::market_engine::npos) throw py::key_error("unknown symbol: " + symbol);
    eng_.set_hold(sym, held);
  }

  bool held(const std::string& symbol) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto sym = eng_.find_symbol(symbol);
    return sym != mk::market_engine::npos && eng_.held(sym);
  }

  py::typing::List<py_bar> advance_time(py::handle now, py::handle old) {
    const std::int64_t t = deprecated_now(now, old, "now_ns") ? to_ns(old, "now_ns") : now_or_wall(now);
    std::lock_guard<std::mutex> lock(mu_);
    eng_.advance_time(t);
    py::typing::List<py_bar> out;
    for (const auto& cb : eng_.closed()) out.append(make_bar(cb));
    return out;
  }

  columns_t bars(const std::string& symbol, std::int64_t tf_ns, bool include_open) {
    std::lock_guard<std::mutex> lock(mu_);
    return columns_to_dict(eng_.bars(sym(symbol), tf(tf_ns), include_open));
  }
  columns_t features(const std::string& symbol, std::int64_t tf_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    return features_to_dict(eng_.features(sym(symbol), tf(tf_ns)));
  }
  std::optional<py_bar> latest(const std::string& symbol, std::int64_t tf_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto idx = tf(tf_ns);
    const auto l = eng_.latest(sym(symbol), idx);
    if (!l) return std::nullopt;
    return py_bar{symbol, labels_[idx], l->first, l->second};
  }
  std::optional<py_bar> open_bar(const std::string& symbol, std::int64_t tf_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto idx = tf(tf_ns);
    const auto b = eng_.open_bar(sym(symbol), idx);
    if (!b) return std::nullopt;
    return py_bar{symbol, labels_[idx], *b, mk::feature_values{}};
  }
  py::typing::Dict<py::str, py::object> state(const std::string& symbol) {
    std::lock_guard<std::mutex> lock(mu_);
    return py::reinterpret_steal<py::typing::Dict<py::str, py::object>>(json_to_py(eng_.state(sym(symbol))).release());
  }
  counts_t stats(std::optional<std::string> symbol) {
    std::lock_guard<std::mutex> lock(mu_);
    return engine_counts_dict(symbol ? eng_.counts(sym(*symbol)) : eng_.totals());
  }
  // Every symbol's last accepted trade time (0: none yet), for freshness checks without
  // building the whole state() document per symbol.
  std::pair<std::vector<std::string>, std::vector<std::int64_t>> last_trades() {
    std::lock_guard<std::mutex> lock(mu_);
    std::pair<std::vector<std::string>, std::vector<std::int64_t>> out;
    for (std::uint32_t i = 0; i < eng_.symbol_count(); ++i) {
      out.first.push_back(eng_.symbol_name(i));
      out.second.push_back(eng_.last_trade_ns(i));
    }
    return out;
  }
  // The same times as an int64 array in symbol index order, without the names: what a
  // board's cached engine mapping reads every cycle (health/ticks.py).
  py::array_t<std::int64_t> last_trade_ns() {
    std::vector<std::int64_t> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      out.resize(eng_.symbol_count());
      for (std::uint32_t i = 0; i < out.size(); ++i) out[i] = eng_.last_trade_ns(i);
    }
    return to_numpy(std::move(out));
  }
  // Symbols from index `start` on (symbols are only ever appended).
  std::vector<std::string> symbols_since(std::size_t start) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (auto i = static_cast<std::uint32_t>(std::min(start, eng_.symbol_count())); i < eng_.symbol_count(); ++i) {
      out.push_back(eng_.symbol_name(i));
    }
    return out;
  }
  std::size_t trades_cached(const std::string& symbol) {
    std::lock_guard<std::mutex> lock(mu_);
    return eng_.trades_cached(sym(symbol));
  }
  std::vector<std::string> symbols() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (std::uint32_t i = 0; i < eng_.symbol_count(); ++i) out.push_back(eng_.symbol_name(i));
    return out;
  }
  bool has_symbol(const std::string& symbol) {
    std::lock_guard<std::mutex> lock(mu_);
    return eng_.find_symbol(symbol) != mk::market_engine::npos;
  }
  const std::vector<std::string>& timeframe_labels() const { return labels_; }
  std::vector<std::int64_t> timeframes_ns() const { return eng_.config().timeframes_ns; }

 private:
  static std::int8_t check_side(int side) {
    if (side < -1 || side > 1) {
      throw py::value_error("side must be +1 (buy aggressor), -1 (sell aggressor) or 0 (unknown); got " +
                            std::to_string(side));
    }
    return static_cast<std::int8_t>(side);
  }
  std::uint32_t sym(const std::string& symbol) const {
    const auto s = eng_.find_symbol(symbol);
    if (s == mk::market_engine::npos)
      throw py::value_error("unknown symbol '" + symbol + "'; the engine has seen " +
                            std::to_string(eng_.symbol_count()) + " symbols (see symbols())");
    return s;
  }
  std::uint32_t tf(std::int64_t tf_ns) const {
    const auto i = eng_.timeframe_index(tf_ns);
    if (i == mk::market_engine::npos) {
      std::string known;
      for (const auto& l : labels_) known += (known.empty() ? "" : ", ") + l;
      throw py::value_error("timeframe '" + mk::timeframe_label(tf_ns) + "' is not configured; this engine has " +
                            known);
    }
    return i;
  }
  py_bar make_bar(const mk::closed_bar& cb) const {
    return py_bar{eng_.symbol_name(cb.symbol), labels_[cb.tf], cb.b, cb.f};
  }
  static py::object status_object(mk::trade_status st) {
    // One Python object per status, made once: casting an enum per call costs more than
    // the rest of on_trade.
    static std::array<PyObject*, mk::trade_status_count> cache = [] {
      std::array<PyObject*, mk::trade_status_count> c{};
      for (int i = 0; i < mk::trade_status_count; ++i) {
        c[static_cast<std::size_t>(i)] = py::cast(static_cast<mk::trade_status>(i)).release().ptr();
      }
      return c;
    }();
    return py::reinterpret_borrow<py::object>(cache[static_cast<std::size_t>(st)]);
  }

  mk::market_engine eng_;
  std::mutex mu_;
  std::vector<std::string> labels_;
};

mk::feature_params make_params(int atr_n, int mom_k, int vwap_n, int rvol_n) {
  mk::feature_params p;
  p.atr_n = atr_n;
  p.mom_k = mom_k;
  p.vwap_n = vwap_n;
  p.rvol_n = rvol_n;
  p.validate();
  return p;
}

}  // namespace

void register_market(py::module_& m) {
  m.def("parse_timeframe", &mk::parse_timeframe_ns, py::arg("timeframe"),
        "Parse '<n><unit>' (unit s, m, h, d) into nanoseconds; ValueError otherwise.");
  m.def("timeframe_label", &mk::timeframe_label, py::arg("tf_ns"), "Canonical label of a timeframe in ns.");

  py::enum_<mk::trade_status>(m, "TradeStatus", py::arithmetic(), "What the engine did with one trade.")
      .value("ACCEPTED", mk::trade_status::accepted)
      .value("REJECT_TS", mk::trade_status::reject_ts)
      .value("REJECT_PRICE", mk::trade_status::reject_price)
      .value("REJECT_SIZE", mk::trade_status::reject_size)
      .value("DUPLICATE_TICK", mk::trade_status::duplicate_tick)
      .value("LATE", mk::trade_status::late)
      .value("AMENDED", mk::trade_status::amended)
      .value("REJECT_SYMBOL", mk::trade_status::reject_symbol);
  py::enum_<mk::quote_status>(m, "QuoteStatus", py::arithmetic(), "What the engine did with one quote.")
      .value("ACCEPTED", mk::quote_status::accepted)
      .value("REJECTED", mk::quote_status::rejected)
      .value("STALE", mk::quote_status::stale);

  py::class_<py_bar>(m, "Bar", "One bar: OHLCV, VWAP, counts, and its features once closed (NaN while open).")
      .def_readonly("symbol", &py_bar::symbol)
      .def_readonly("timeframe", &py_bar::timeframe)
      .def_property_readonly("start_ns", [](const py_bar& b) { return b.b.start_ns; })
      .def_property_readonly("open", [](const py_bar& b) { return b.b.open; })
      .def_property_readonly("high", [](const py_bar& b) { return b.b.high; })
      .def_property_readonly("low", [](const py_bar& b) { return b.b.low; })
      .def_property_readonly("close", [](const py_bar& b) { return b.b.close; })
      .def_property_readonly("volume", [](const py_bar& b) { return b.b.volume; })
      .def_property_readonly("vwap", [](const py_bar& b) { return b.b.vwap; })
      .def_property_readonly("trades", [](const py_bar& b) { return b.b.trades; })
      .def_property_readonly("buy_volume", [](const py_bar& b) { return b.b.buy_volume; })
      .def_property_readonly("revision", [](const py_bar& b) { return b.b.revision; })
      .def_property_readonly("atr", [](const py_bar& b) { return b.f.atr; })
      .def_property_readonly("mom_bps", [](const py_bar& b) { return b.f.mom_bps; })
      .def_property_readonly("px_vs_vwap_bps", [](const py_bar& b) { return b.f.px_vs_vwap_bps; })
      .def_property_readonly("rvol", [](const py_bar& b) { return b.f.rvol; })
      .def("__repr__", [](const py_bar& b) {
        return "Bar(" + b.symbol + " " + b.timeframe + " start_ns=" + std::to_string(b.b.start_ns) +
               " o=" + std::to_string(b.b.open) + " h=" + std::to_string(b.b.high) + " l=" + std::to_string(b.b.low) +
               " c=" + std::to_string(b.b.close) + " v=" + std::to_string(b.b.volume) +
               " trades=" + std::to_string(b.b.trades) + " rev=" + std::to_string(b.b.revision) + ")";
      });

  m.def(
      "build_bars",
      [](const i64_array& ts, const f64_array& price, const f64_array& size, std::optional<i8_array> side,
         std::int64_t tf_ns, bool fill_gaps, std::int64_t max_fill_bars, bool sort, unsigned threads) {
        const auto ts_v = view(ts);
        const auto px_v = view(price);
        const auto sz_v = view(size);
        const std::span<const std::int8_t> side_v = side ? view(*side) : std::span<const std::int8_t>{};
        mk::batch_options o;
        o.tf_ns = tf_ns;
        o.fill_gaps = fill_gaps;
        o.max_fill_bars = max_fill_bars;
        o.threads = threads;
        mk::batch_result r;
        {
          py::gil_scoped_release release;
          if (sort && px_v.size() == ts_v.size() && sz_v.size() == ts_v.size() &&
              (side_v.empty() || side_v.size() == ts_v.size()) && mk::first_unsorted(ts_v, px_v, sz_v) >= 0) {
            const auto order = mk::stable_order(ts_v);
            std::vector<std::int64_t> ts_s(order.size());
            std::vector<double> px_s(order.size()), sz_s(order.size());
            std::vector<std::int8_t> side_s(side_v.empty() ? 0 : order.size());
            for (std::size_t i = 0; i < order.size(); ++i) {
              ts_s[i] = ts_v[order[i]];
              px_s[i] = px_v[order[i]];
              sz_s[i] = sz_v[order[i]];
              if (!side_v.empty()) side_s[i] = side_v[order[i]];
            }
            r = mk::build_bars(ts_s, px_s, sz_s, side_s, o);
          } else {
            r = mk::build_bars(ts_v, px_v, sz_v, side_v, o);
          }
        }
        columns_t d = columns_to_dict(std::move(r.bars));
        counts_t st;
        st["accepted"] = r.stats.accepted;
        st["REJECT_TS"] = r.stats.reject_ts;
        st["REJECT_PRICE"] = r.stats.reject_price;
        st["REJECT_SIZE"] = r.stats.reject_size;
        st["gaps_unfilled"] = r.stats.gaps_unfilled;
        d["stats"] = st;
        return d;
      },
      py::arg("ts_ns"), py::arg("price"), py::arg("size"), py::arg("side"), py::arg("tf_ns"), py::arg("fill_gaps"),
      py::arg("max_fill_bars"), py::arg("sort"), py::arg("threads"),
      "Batch bars from trade arrays (GIL released; split over up to `threads` threads at bar boundaries). "
      "Returns numpy columns and a 'stats' dict.");

  m.def(
      "compute_features",
      [](const f64_array& high, const f64_array& low, const f64_array& close, const f64_array& volume,
         const f64_array& vwap, int atr_n, int mom_k, int vwap_n, int rvol_n) {
        const auto p = make_params(atr_n, mom_k, vwap_n, rvol_n);
        const std::size_t n = view(close).size();
        if (view(high).size() != n || view(low).size() != n || view(volume).size() != n || view(vwap).size() != n) {
          throw py::value_error("compute_features: high, low, close, volume and vwap must have the same length");
        }
        mk::feature_columns out;
        {
          py::gil_scoped_release release;
          mk::feature_state st(p);
          out.atr.reserve(n);
          out.mom_bps.reserve(n);
          out.px_vs_vwap_bps.reserve(n);
          out.rvol.reserve(n);
          mk::bar b;
          for (std::size_t i = 0; i < n; ++i) {
            b.high = high.data()[i];
            b.low = low.data()[i];
            b.close = close.data()[i];
            b.volume = volume.data()[i];
            b.vwap = vwap.data()[i];
            out.push(st.update(b));
          }
        }
        return features_to_dict(std::move(out));
      },
      py::arg("high"), py::arg("low"), py::arg("close"), py::arg("volume"), py::arg("vwap"), py::arg("atr_n"),
      py::arg("mom_k"), py::arg("vwap_n"), py::arg("rvol_n"), "Features over bar columns (GIL released).");

  py::class_<py_engine>(m, "MarketEngine", "Native streaming engine; use montalaq.MarketEngine.")
      .def(py::init([](std::vector<std::int64_t> timeframes_ns, std::size_t max_trades, std::size_t max_bars,
                       std::int64_t late_window_ns, std::int64_t close_grace_ns, bool fill_gaps,
                       std::int64_t max_fill_bars, bool dedupe_content, int atr_n, int mom_k, int vwap_n, int rvol_n,
                       std::vector<std::string> symbols) {
             mk::engine_config c;
             c.timeframes_ns = std::move(timeframes_ns);
             c.max_trades = max_trades;
             c.max_bars = max_bars;
             c.late_window_ns = late_window_ns;
             c.close_grace_ns = close_grace_ns;
             c.fill_gaps = fill_gaps;
             c.max_fill_bars = max_fill_bars;
             c.dedupe_content = dedupe_content;
             c.features = make_params(atr_n, mom_k, vwap_n, rvol_n);
             c.symbols = std::move(symbols);
             return std::make_unique<py_engine>(std::move(c));
           }),
           py::arg("timeframes_ns"), py::arg("max_trades"), py::arg("max_bars"), py::arg("late_window_ns"),
           py::arg("close_grace_ns"), py::arg("fill_gaps"), py::arg("max_fill_bars"), py::arg("dedupe_content"),
           py::arg("atr_n"), py::arg("mom_k"), py::arg("vwap_n"), py::arg("rvol_n"), py::arg("symbols"))
      .def("on_trade", &py_engine::on_trade, py::arg("symbol"), py::arg("ts_ns"), py::arg("price"), py::arg("size"),
           py::arg("side") = 0, py::arg("trade_id") = py::none(),
           "Ingest one trade. Returns (TradeStatus, list of bars it closed).")
      .def("on_trades", &py_engine::on_trades, py::arg("symbol"), py::arg("ts_ns"), py::arg("price"), py::arg("size"),
           py::arg("side") = py::none(), py::arg("trade_id") = py::none(),
           "Ingest a chunk (GIL released). Returns (counts by status, list of bars closed).")
      .def("on_quote", &py_engine::on_quote, py::arg("symbol"), py::arg("ts_ns"), py::arg("bid"), py::arg("ask"),
           "Update the best bid/ask.")
      .def("set_hold", &py_engine::set_hold, py::arg("symbol"), py::arg("held"),
           "Hold (True) or release a symbol's bars from closing by the clock (a feed backfilling).")
      .def("held", &py_engine::held, py::arg("symbol"), "Whether the symbol is on hold.")
      .def("advance_time", &py_engine::advance_time, py::arg("now") = py::none(), py::kw_only(),
           deprecated_kw("now_ns"),
           "Close every bar whose end + close_grace <= now (None: the wall clock); returns the bars closed.")
      .def("_bars", &py_engine::bars, py::arg("symbol"), py::arg("tf_ns"), py::arg("include_open"))
      .def("_features", &py_engine::features, py::arg("symbol"), py::arg("tf_ns"))
      .def("_latest", &py_engine::latest, py::arg("symbol"), py::arg("tf_ns"))
      .def("_open_bar", &py_engine::open_bar, py::arg("symbol"), py::arg("tf_ns"))
      .def("state", &py_engine::state, py::arg("symbol"), "Raw per-symbol state as a JSON-ready dict.")
      .def("stats", &py_engine::stats, py::arg("symbol") = py::none(),
           "Counts by trade status (and quotes, bars closed), for one symbol or all.")
      .def("trades_cached", &py_engine::trades_cached, py::arg("symbol"), "Trades in the symbol's cache.")
      .def("last_trades", &py_engine::last_trades,
           "(symbols, last accepted trade time in ns per symbol; 0 when none yet).")
      .def("symbols", &py_engine::symbols, "Symbols seen (or allowed), in order of first sight.")
      .def("_last_trade_ns", &py_engine::last_trade_ns,
           "Last accepted trade time per symbol (int64 ns, 0: none yet), in symbols() order.")
      .def("_symbols_since", &py_engine::symbols_since, py::arg("start"), "symbols()[start:].")
      .def("has_symbol", &py_engine::has_symbol, py::arg("symbol"))
      .def_property_readonly("timeframes", &py_engine::timeframe_labels, "Configured timeframes, as labels.")
      .def_property_readonly("timeframes_ns", &py_engine::timeframes_ns, "Configured timeframes in ns.");
}
