// C++ streaming cost per trade (README.md, Speed: <= 50 ns for 3 timeframes + features).
// Reads a binary file of (int64 ts, double price, double size) triples written by
// benchmarks/bench_bars.py, so both sides run on the same real data.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

#include "montalaq/market/bar_builder.hpp"
#include "montalaq/market/engine.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: montalaq_bench_stream FILE [repeats]\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<std::int64_t> ts;
  std::vector<double> px, sz;
  struct row {
    std::int64_t t;
    double p, s;
  } r{};
  while (in.read(reinterpret_cast<char*>(&r), sizeof r)) {
    ts.push_back(r.t);
    px.push_back(r.p);
    sz.push_back(r.s);
  }
  if (ts.empty()) {
    std::cerr << "no rows in " << argv[1] << "\n";
    return 1;
  }
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  using clock = std::chrono::steady_clock;
  double best_stream = 1e30, best_batch = 1e30, best_chunked = 1e30;
  std::int64_t closed = 0;
  for (int k = 0; k < repeats; ++k) {
    montalaq::market::engine_config c;  // 1m, 5m, 15m + default features
    montalaq::market::market_engine e(c);
    const auto sym = e.symbol_index("X");
    montalaq::market::trade t;
    const auto a = clock::now();
    for (std::size_t i = 0; i < ts.size(); ++i) {
      t.ts_ns = ts[i];
      t.price = px[i];
      t.size = sz[i];
      e.on_trade(sym, t);
    }
    const auto b = clock::now();
    best_stream = std::min(best_stream, std::chrono::duration<double>(b - a).count());
    closed = e.counts(sym).bars_closed;

    montalaq::market::market_engine ec(c);
    const auto symc = ec.symbol_index("X");
    const auto d0 = clock::now();
    for (std::size_t off = 0; off < ts.size(); off += 10'000) {
      const std::size_t len = std::min<std::size_t>(10'000, ts.size() - off);
      ec.on_trades(symc, std::span(ts).subspan(off, len), std::span(px).subspan(off, len),
                   std::span(sz).subspan(off, len), {}, {});
    }
    const auto d1 = clock::now();
    best_chunked = std::min(best_chunked, std::chrono::duration<double>(d1 - d0).count());
    if (ec.counts(symc).bars_closed != e.counts(sym).bars_closed) return 1;

    montalaq::market::batch_options o;
    const auto c0 = clock::now();
    const auto res = montalaq::market::build_bars(ts, px, sz, {}, o);
    const auto c1 = clock::now();
    best_batch = std::min(best_batch, std::chrono::duration<double>(c1 - c0).count());
    if (res.bars.size() == 0) return 1;
  }
  const double n = static_cast<double>(ts.size());
  std::printf(
      "{\"trades\": %zu, \"stream_ns_per_trade\": %.3f, \"chunked_ns_per_trade\": %.3f, "
      "\"batch_1m_trades_per_s\": %.1f, \"bars_closed\": %lld}\n",
      ts.size(), best_stream / n * 1e9, best_chunked / n * 1e9, n / best_batch, static_cast<long long>(closed));
  return 0;
}
