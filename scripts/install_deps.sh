#!/usr/bin/env bash
# Installs the build requirements and the `dev` extra (scripts/dev_requirements.py) into the
# venv whose python is $1. uv resolves and installs the same versions as pip (checked on
# this machine: identical `pip freeze`) in ~9 s instead of ~100 s, so it is tried first,
# told about pip's constraints and find-links (machine config files and PIP_* variables);
# pip does the job when uv cannot (docs/CONTRIBUTING.md, "CI").
set -euo pipefail
py="$1"
mapfile -t reqs < <(python3 "$(dirname "$0")/dev_requirements.py")
"$py" -m pip install -q uv || true
uv="$(dirname "$py")/uv"
if [[ -x "$uv" ]]; then
  args=()
  constraints="$("$py" -m pip config get global.constraint 2>/dev/null || true) ${PIP_CONSTRAINT:-}"
  links="$("$py" -m pip config get global.find-links 2>/dev/null || true) ${PIP_FIND_LINKS:-}"
  for c in $constraints; do [[ -f "$c" ]] && args+=(--constraint "$c"); done
  for f in $links; do [[ -e "$f" ]] && args+=(--find-links "$f"); done
  if "$uv" pip install -q --python "$py" "${args[@]}" "${reqs[@]}"; then
    exit 0
  fi
  echo "install_deps: uv failed; installing with pip" >&2
fi
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "${reqs[@]}"
