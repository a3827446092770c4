#pragma once
// The streaming market engine (docs/semantics.md, Market core): per-symbol trade cache, quotes, bars at
// several timeframes in one pass, and O(1) features per closed bar.
//
// Thread safety: none inside. One thread at a time per engine; the Python binding wraps it
// in a mutex. Time is always passed in; the engine never reads a clock.
#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "montalaq/detail/flat_u64_set.hpp"
#include "montalaq/detail/ring.hpp"
#include "montalaq/detail/trade_cache.hpp"
#include "montalaq/market/bar.hpp"
#include "montalaq/market/features.hpp"
#include "montalaq/market/trade.hpp"

namespace montalaq::market {

struct engine_config {
  std::vector<std::int64_t> timeframes_ns{60'000'000'000LL, 300'000'000'000LL, 900'000'000'000LL};
  std::size_t max_trades = 50'000;  // per-symbol trade cache (and trade-id window)
  std::size_t max_bars = 10'000;    // closed bars kept per (symbol, timeframe)
  std::int64_t late_window_ns = 0;  // 0: late trades are counted, never applied
  std::int64_t close_grace_ns = 0;  // advance_time closes [s, e) once now >= e + grace
  bool fill_gaps = false;
  std::int64_t max_fill_bars = 100'000;
  bool dedupe_content = false;
  feature_params features{};
  std::vector<std::string> symbols;  // allow-list; empty accepts any symbol

  // Throws std::invalid_argument naming the field: no timeframes, duplicates, a timeframe
  // that is not a multiple of the finest (LATE is judged on the finest bar, which is only
  // sound when every coarser bar boundary is also a finest boundary), zero capacities.
  void validate() const;
};

enum class quote_status : std::uint8_t { accepted = 0, rejected, stale };

struct engine_counts {
  std::array<std::int64_t, trade_status_count> trades{};
  std::int64_t quotes_accepted = 0, quotes_rejected = 0, quotes_stale = 0, quotes_crossed = 0;
  std::int64_t bars_closed = 0, gaps_unfilled = 0;
  engine_counts& operator+=(const engine_counts& o) noexcept;
  [[nodiscard]] std::int64_t of(trade_status s) const noexcept { return trades[static_cast<std::size_t>(s)]; }
};

struct closed_bar {
  std::uint32_t symbol;
  std::uint32_t tf;  // index into config().timeframes_ns
  bar b;
  feature_values f;
};

class market_engine {
 public:
  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

  explicit market_engine(engine_config cfg);

  // Symbol handle; creates the symbol on first sight. npos when an allow-list rejects it.
  std::uint32_t symbol_index(std::string_view symbol);
  [[nodiscard]] std::uint32_t find_symbol(std::string_view symbol) const noexcept;
  [[nodiscard]] const std::string& symbol_name(std::uint32_t sym) const { return syms_.at(sym).name; }
  [[nodiscard]] std::size_t symbol_count() const noexcept { return syms_.size(); }
  [[nodiscard]] std::uint32_t timeframe_index(std::int64_t tf_ns) const noexcept;

  // Streaming. Each call clears closed() and fills it with the bars it closed.
  trade_status on_trade(std::uint32_t sym, const trade& t);
  trade_status on_trade(std::string_view symbol, const trade& t);
  // Chunked: equal to calling on_trade per row; closed() collects every bar of the chunk.
  // `side` and `trade_id` may be empty. Returns per-status counts for the chunk.
  std::array<std::int64_t, trade_status_count> on_trades(std::uint32_t sym, std::span<const std::int64_t> ts_ns,
                                                         std::span<const double> price, std::span<const double> size,
                                                         std::span<const std::int8_t> side,
                                                         std::span<const std::uint64_t> trade_id);
  // By name: an allow-listed-out symbol counts every row as REJECT_SYMBOL, as on_trade does.
  std::array<std::int64_t, trade_status_count> on_trades(std::string_view symbol, std::span<const std::int64_t> ts_ns,
                                                         std::span<const double> price, std::span<const double> size,
                                                         std::span<const std::int8_t> side,
                                                         std::span<const std::uint64_t> trade_id);
  quote_status on_quote(std::uint32_t sym, std::int64_t ts_ns, double bid, double ask);
  // Closes every bar with end + close_grace <= now (and emits flat bars when filling gaps).
  // Symbols on hold are skipped: their bars close by trades only.
  std::size_t advance_time(std::int64_t now_ns);
  // While a feed is reconnecting and will backfill the trades it missed, the clock must not
  // close the symbol's bars: the late trades would be rejected and the bars would differ
  // from an uninterrupted stream's. Holding changes nothing else.
  void set_hold(std::uint32_t sym, bool held) { syms_.at(sym).held = held; }
  [[nodiscard]] bool held(std::uint32_t sym) const { return syms_.at(sym).held; }

  [[nodiscard]] std::span<const closed_bar> closed() const noexcept { return closed_; }

  // Queries.
  [[nodiscard]] const engine_config& config() const noexcept { return cfg_; }
  [[nodiscard]] bar_columns bars(std::uint32_t sym, std::uint32_t tf, bool include_open = false) const;
  [[nodiscard]] feature_columns features(std::uint32_t sym, std::uint32_t tf) const;
  [[nodiscard]] std::optional<bar> open_bar(std::uint32_t sym, std::uint32_t tf) const;
  // Latest closed bar and its features, if any.
  [[nodiscard]] std::optional<std::pair<bar, feature_values>> latest(std::uint32_t sym, std::uint32_t tf) const;
  [[nodiscard]] nlohmann::json state(std::uint32_t sym) const;
  [[nodiscard]] const engine_counts& counts(std::uint32_t sym) const { return syms_.at(sym).counts; }
  [[nodiscard]] engine_counts totals() const;
  [[nodiscard]] std::size_t trades_cached(std::uint32_t sym) const { return syms_.at(sym).cache.size(); }
  // Timestamp of the latest accepted trade (0: none yet).
  [[nodiscard]] std::int64_t last_trade_ns(std::uint32_t sym) const { return syms_.at(sym).last_trade_ts; }

 private:
  struct history_entry {
    bar_accum acc;
    feature_values f;
    std::int64_t index;  // global bar index for this (symbol, timeframe)
  };
  struct tf_state {
    std::int64_t tf_ns = 0;
    bar_accum open{};
    std::int64_t open_end = 0;  // open.start_ns + tf_ns, cached to skip a division per trade
    bool has_open = false;
    // Start of the earliest interval that is not closed yet; min() before the first trade.
    std::int64_t frontier = std::numeric_limits<std::int64_t>::min();
    bool has_close = false;
    double last_close = 0;
    std::deque<history_entry> history;
    std::int64_t next_index = 0;
    feature_state features;
  };
  struct symbol_state {
    std::string name;
    std::vector<tf_state> tfs;
    detail::trade_cache cache;
    bool ids_seen = false;  // eviction must forget ids only once any trade carried one
    detail::flat_u64_set ids, contents;
    double last_price = std::numeric_limits<double>::quiet_NaN();
    std::int64_t last_trade_ts = 0;
    double bid = std::numeric_limits<double>::quiet_NaN(), ask = std::numeric_limits<double>::quiet_NaN();
    std::int64_t quote_ts = 0;
    engine_counts counts;
    bool held = false;  // advance_time skips the symbol (set_hold)
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  std::uint32_t add_symbol(std::string_view name);
  trade_status ingest(std::uint32_t sym, const trade& t);
  template <std::size_t N>
  std::size_t ingest_run(symbol_state& s, std::span<const std::int64_t> ts_ns, std::span<const double> price,
                         std::span<const double> size, std::span<const std::int8_t> side, std::size_t i,
                         std::array<std::int64_t, trade_status_count>& out);
  void apply(symbol_state& s, std::uint32_t sym, std::uint32_t tf, const trade& t);
  bool amend(symbol_state& s, std::uint32_t sym, const trade& t);
  [[nodiscard]] bool amendable(const tf_state& f, std::int64_t start) const;
  void emit(symbol_state& s, std::uint32_t sym, std::uint32_t tf, const bar_accum& acc);
  void fill_until(symbol_state& s, std::uint32_t sym, std::uint32_t tf, std::int64_t limit);
  void refeature_from(tf_state& f, std::size_t j);
  void remember(symbol_state& s, const trade& t, std::uint64_t content_key);
  [[nodiscard]] const tf_state& tf_at(std::uint32_t sym, std::uint32_t tf) const;

  engine_config cfg_;
  std::uint32_t finest_ = 0;
  std::vector<symbol_state> syms_;
  std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> index_;
  std::vector<closed_bar> closed_;
  std::int64_t rejected_symbol_ = 0;
};

}  // namespace montalaq::market
