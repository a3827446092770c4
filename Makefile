# The developer's one way in (docs/CONTRIBUTING.md). Every target sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JOBS ?= 2
CMAKE_FLAGS := -G Ninja -DMONTALAQ_BUILD_TESTS=ON -DMONTALAQ_WERROR=ON

# Every CMake build (the C++ tests, ASan, the module through pip, the wheel, the source
# check) compiles through ccache when it is installed: CMake reads the launcher from the
# environment, also inside pip's isolated builds. Paths are hashed relative to the tree, so
# a fresh clone in another folder hits the same cache. Results are the compiler's own.
CCACHE := $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
export CMAKE_CXX_COMPILER_LAUNCHER := $(CCACHE)
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
endif

.PHONY: run test bench lint system venv build wheel wheel-check cpp-test cpp-asan py-test stubs format clean

system:
	@scripts/ensure_system.sh

# The venv is rebuilt when pyproject.toml changes (new dependencies).
$(VENV)/.deps: pyproject.toml scripts/dev_requirements.py scripts/install_deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	scripts/install_deps.sh $(PY)
	@touch $@

venv: system $(VENV)/.deps

# Non-editable install, so tests run against what `pip install .` really ships; the
# scikit-build-core build dir keeps rebuilds incremental.
build: venv
	$(PIP) install -q --no-build-isolation --no-deps -C cmake.define.MONTALAQ_WERROR=ON .

# A manylinux wheel that needs no compiler to install (docs/CONTRIBUTING.md, "Wheels"):
# built in isolation from PyPI's build requirements, libstdc++/libgcc linked statically,
# spdlog/fmt/nlohmann compiled in, then repaired and tagged by auditwheel.
wheel: venv
	rm -rf dist
	$(PIP) wheel -q --no-deps -w dist/raw -C cmake.define.MONTALAQ_STATIC_RUNTIME=ON \
		-C build-dir=build/wheel-{wheel_tag} .
	PATH=$(VENV)/bin:$$PATH $(PY) -m auditwheel repair -w dist dist/raw/*.whl
	@rm -rf dist/raw
	@for w in dist/*.whl; do echo "wheel: $$w ($$(du -k $$w | cut -f1) KiB)"; done

# The wheel in a fresh venv with no compiler and no CMake on PATH: import, the README tour,
# `montalaq serve` answering /health, and auditwheel's manylinux tag.
wheel-check: wheel
	@scripts/check_wheel.sh dist/*.whl

cpp-test: system
	cmake -S . -B build/cpp $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/cpp -j $(JOBS)
	./build/cpp/montalaq_tests

cpp-asan: system
	cmake -S . -B build/asan $(CMAKE_FLAGS) -DMONTALAQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/asan -j $(JOBS) --target montalaq_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ./build/asan/montalaq_tests

# Three pytest-xdist workers on a 2-core machine: much of the suite waits on servers and
# subprocesses, so a third worker keeps the cores busy (2026-12-07, other work running:
# 5.7 min with 2 in a fresh-clone CI, 4.6 min with 3 in a local run; PYTEST_WORKERS=0 runs
# in one process). A module per worker at a time, so module fixtures
# (a Celery cluster, a replay) run once.
PYTEST_WORKERS ?= 3
py-test: build
	@scripts/ensure_services.sh
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope

test: cpp-test cpp-asan py-test

run: build
	$(VENV)/bin/montalaq serve

bench: build cpp-test
	@scripts/ensure_services.sh
	$(PY) benchmarks/bench_bars.py
	$(PY) benchmarks/bench_health.py
	$(PY) benchmarks/bench_guards.py
	$(PY) benchmarks/bench_notify.py
	$(PY) benchmarks/bench_monitoring.py
	$(PY) benchmarks/bench_api.py
	$(PY) benchmarks/bench_celery.py
	$(PY) benchmarks/bench_providers.py

stubs: build
	$(PY) scripts/gen_stubs.py

# Needs no build: mypy reads the sources and the committed stubs, so CI runs it beside the tests.
# mypy takes no arguments: pyproject.toml ([tool.mypy] files) names the package, tests/py
# and benchmarks, so this, pre-commit and a bare `mypy` check the same trees.
lint: venv
	$(VENV)/bin/ruff check python tests/py benchmarks scripts
	$(VENV)/bin/ruff format --check python tests/py benchmarks scripts
	$(VENV)/bin/mypy
	clang-format --dry-run --Werror $$(git ls-files 'cpp/*.hpp' 'cpp/*.cpp' 'tests/cpp/*.cpp' 'tests/cpp/*.hpp' 'benchmarks/cpp/*.cpp')

format: build
	$(VENV)/bin/ruff format python tests/py benchmarks scripts
	$(VENV)/bin/ruff check --fix python tests/py benchmarks scripts
	clang-format -i $$(git ls-files 'cpp/*.hpp' 'cpp/*.cpp' 'tests/cpp/*.cpp' 'tests/cpp/*.hpp' 'benchmarks/cpp/*.cpp')

clean:
	rm -rf build $(VENV)
