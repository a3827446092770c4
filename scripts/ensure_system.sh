#!/usr/bin/env bash
# Installs the Debian packages the build needs, only when one is missing. Idempotent and
# quiet when everything is present, so `make run` / `make test` can call it every time.
set -euo pipefail
# chromium: the dashboard's browser tests drive Debian's build through Playwright (no
# browser download at test time). wrk: the load generator of benchmarks/bench_api.py.
# ccache: the Makefile compiles through it when present (five builds of the same core per CI run).
pkgs=(g++ cmake ninja-build make nlohmann-json3-dev libspdlog-dev catch2 clang-format python3-venv chromium wrk ccache)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure_system: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
