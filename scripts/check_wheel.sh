#!/usr/bin/env bash
# The wheel as a user gets it (docs/CONTRIBUTING.md, "Wheels"): a fresh virtual environment
# with no compiler, no CMake and no Ninja on PATH; `pip install <wheel>[api]`; import; the
# README's tour (its first python block, so the check follows the README); `montalaq serve`
# on a free port answering /health; auditwheel's manylinux tag; size and import time.
set -euo pipefail
wheel="$(realpath "$1")"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

hide="$work/hide"
mkdir -p "$hide"
for tool in cc c++ gcc g++ clang clang++ cmake ninja ld; do
  printf '#!/bin/sh\necho "%s: hidden for the wheel check" >&2\nexit 127\n' "$tool" >"$hide/$tool"
  chmod +x "$hide/$tool"
done
python3 -m venv "$work/venv"
export PATH="$hide:$work/venv/bin:$PATH"
if command -v g++ >/dev/null && g++ --version >/dev/null 2>&1; then
  echo "check_wheel: a compiler is still reachable" >&2
  exit 1
fi
pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
pip install -q --only-binary montalaq "${wheel}[api]" 2>&1 | grep -v "^WARNING: Location" || true
python -c "import montalaq, sys; print('check_wheel: montalaq', montalaq.__version__, 'from', montalaq.__file__)"
python -c "import montalaq._core as c, sys; sys.exit(0 if c.__file__.startswith('$work') else 1)"

echo "check_wheel: the README tour"
awk '/^```python/{f=1; next} /^```/{if (f) exit} f' "$here/README.md" >"$work/tour.py"
(cd "$work" && python tour.py)

echo "check_wheel: montalaq serve"
cd "$work"
MONTALAQ_DB_PATH="$work/db/montalaq.db" montalaq serve --port 0 >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
python - "$work/serve.out" <<'PY'
import json, re, sys, time, urllib.error, urllib.request
out = sys.argv[1]
deadline = time.monotonic() + 60
base = None
while time.monotonic() < deadline and base is None:
    m = re.search(r"montalaq serve: (http://[^/#\s]+/)", open(out).read())
    base = m.group(1) if m else None
    time.sleep(0.2)
if base is None:
    sys.exit("check_wheel: serve printed no URL")
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(base + "health", timeout=5) as r:
            body = json.load(r)
            print("check_wheel: /health", r.status, body.get("status"))
            sys.exit(0)
    except urllib.error.HTTPError as e:  # 503 until the lifecycle is ACTIVE
        time.sleep(0.5)
sys.exit("check_wheel: /health never answered 200")
PY
kill "$pid"
wait "$pid" || true
pid=""

echo "check_wheel: auditwheel"
tag="$(python3 -c "import sys; print(sys.argv[1].rsplit('-', 1)[1].removesuffix('.whl'))" "$wheel")"
case "$tag" in
  manylinux*) echo "check_wheel: platform tag $tag" ;;
  *) echo "check_wheel: not a manylinux wheel: $tag" >&2; exit 1 ;;
esac
shown="$("$here/.venv/bin/python" -m auditwheel show "$wheel" 2>/dev/null | tr '\n' ' ')"
case "$shown" in
  *"platform tag: \"$tag\""*) echo "check_wheel: auditwheel show agrees: $tag" ;;
  *) echo "check_wheel: auditwheel show disagrees: $shown" >&2; exit 1 ;;
esac
echo "check_wheel: size $(du -k "$wheel" | cut -f1) KiB; import time $(python -X importtime -c 'import montalaq' 2>&1 | tail -1 | awk -F'|' '{print $2}' | tr -d ' ') us"
echo "check_wheel: ok"
