# Two commands that work on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint types bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m soravideo demo

test: $(STAMP)
	$(PY) scripts/check.py

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples scripts
	$(PY) -m ruff format --check src tests benchmarks examples scripts

types: $(STAMP)
	$(PY) -m mypy --strict src

bench: $(STAMP)
	$(PY) benchmarks/ledger.py
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
