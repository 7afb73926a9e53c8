# Two commands for a new user: `make bench` (the main job) and `make test`.
# Each creates .venv on first use. torch is pinned to the local CPU wheel first so that
# resolving the package's own `torch` requirement never pulls the multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed-stamp
PRESET ?= default
BENCH_ARGS ?=

.PHONY: test bench docs lint perf clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	$(PY) benchmarks/run.py --preset $(PRESET) $(BENCH_ARGS)

perf: $(STAMP)
	$(PY) benchmarks/perf.py

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean-venv:
	rm -rf $(VENV)
