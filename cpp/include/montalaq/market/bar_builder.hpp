#pragma once
// Batch bar building (docs/semantics.md, Market core): arrays in, columns out. Agrees bar for bar with the
// streaming engine on the same trades.
#include <cstdint>
#include <span>
#include <vector>

#include "montalaq/market/bar.hpp"

namespace montalaq::market {

struct batch_options {
  std::int64_t tf_ns = 60 * 1'000'000'000LL;
  bool fill_gaps = false;
  // A run of more empty intervals than this is left unfilled (and counted): one bogus
  // far-future timestamp must not allocate millions of flat bars.
  std::int64_t max_fill_bars = 100'000;
  // Worker threads. Input is split at bar boundaries and every bar is still built by one
  // thread in trade order, so the result is identical to threads = 1.
  unsigned threads = 1;
};
// Below this many rows extra threads cost more than they save.
inline constexpr std::size_t min_rows_per_thread = 1u << 18;

struct batch_stats {
  std::int64_t accepted = 0;
  std::int64_t reject_ts = 0;
  std::int64_t reject_price = 0;
  std::int64_t reject_size = 0;
  std::int64_t gaps_unfilled = 0;
};

struct batch_result {
  bar_columns bars;
  batch_stats stats;
};

// `side` may be empty (no aggressor information). Trades must be sorted by ts among the
// valid rows; otherwise std::invalid_argument names the first offending index.
[[nodiscard]] batch_result build_bars(std::span<const std::int64_t> ts_ns, std::span<const double> price,
                                      std::span<const double> size, std::span<const std::int8_t> side,
                                      const batch_options& opt);

// Stable ordering of rows by ts (equal timestamps keep arrival order), for callers that
// ask the batch builder to sort.
[[nodiscard]] std::vector<std::size_t> stable_order(std::span<const std::int64_t> ts_ns);

// Index of the first row whose ts is smaller than an earlier valid row's, or -1 if sorted.
[[nodiscard]] std::int64_t first_unsorted(std::span<const std::int64_t> ts_ns, std::span<const double> price,
                                          std::span<const double> size);

}  // namespace montalaq::market
