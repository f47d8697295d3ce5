# Entry points, each doing all set-up on a fresh machine (a venv in .venv with the CPU torch pin):
#   make search   -- the main job: roadmap search --seed nafnet --budget 50 on the embedded photos
#   make test     -- the test suite
#   make lint     -- ruff (lint, format) and mypy, configured in pyproject.toml (CI runs it)
#   make types    -- mypy alone
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup search test lint types

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

search: $(STAMP)
	$(VENV)/bin/roadmap search --seed nafnet --budget 50

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

types: $(STAMP)
	$(VENV)/bin/mypy
