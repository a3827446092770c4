#!/usr/bin/env bash
# A source install that finds nothing of the system's but the compiler (docs/CONTRIBUTING.md,
# "Building from source"): the tree copied to a temporary folder, a fresh venv, and
# `pip install .` with /usr and / hidden from CMake's searches (CMAKE_IGNORE_PREFIX_PATH), so
# nlohmann/json must come from PyPI and spdlog from the built-in fallback ("/" too: Debian
# reaches /usr/lib through the /lib symlink); then a smoke run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
(cd "$here" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$work/src"
# Compile through ccache when it is installed, as the Makefile does (this script also runs
# outside make, from .ci/run): paths relative to the copied tree, so runs hit the cache.
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_NOHASHDIR=1
fi
export CCACHE_BASEDIR="$work/src"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
log="$work/build.log"
if ! "$work/venv/bin/python" -m pip install -v --no-cache-dir \
    -C "cmake.define.CMAKE_IGNORE_PREFIX_PATH=/usr;/" -C cmake.define.CMAKE_IGNORE_PATH=/usr/include \
    "$work/src" >"$log" 2>&1; then
  grep -E "montalaq:|Error|error" "$log" | tail -20 >&2
  echo "check_source_build: pip install failed" >&2
  exit 1
fi
grep -q "montalaq: nlohmann/json from PyPI" "$log" || { echo "check_source_build: system nlohmann was used" >&2; exit 1; }
grep -q "montalaq: spdlog not found: using the built-in fallback" "$log" || { echo "check_source_build: system spdlog was used" >&2; exit 1; }
cd "$work"
"$work/venv/bin/montalaq" --version
"$work/venv/bin/python" - <<'PY'
import logging
import montalaq as mq
trades = mq.read_trades(mq.sample_path("spy"))
bars = mq.build_bars(trades.ts_ns, trades.price, trades.size, "1m")
assert len(bars) > 100
mq.configure_logging(logging.DEBUG)  # the fallback logger forwards records to Python
with_records: list[str] = []
native = logging.getLogger("montalaq.native")
native.setLevel(logging.DEBUG)
native.addHandler(type("H", (logging.Handler,), {"emit": lambda s, r: with_records.append(r.getMessage())})())
mq.MarketEngine().on_trade("FALLBACK", 1_700_000_000 * 10**9, 1.0, 1.0)
mq.drain_native_logs()
assert any("FALLBACK" in m for m in with_records), with_records
print("check_source_build: ok,", len(bars), "bars; native log:", with_records[-1])
PY
