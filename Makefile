# Two entry points for a fresh clone: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/kubecost_flexera

.PHONY: setup test lint typecheck unit demo clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt layers/kubecost_flexera/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

demo: $(STAMP)
	@echo "make demo: not yet available (the workflow issue adds the local runner)"

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
