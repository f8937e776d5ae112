# Two commands for a fresh machine (Python 3.11+): `make serve` (the local twin) and `make test`.
# Each creates or reuses .venv and installs what it needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TWIN_STAMP := $(VENV)/.installed-twin
PORT   ?= 8000

.PHONY: test lint typecheck unit serve synth clean

# Everything (tests, CDK, linters); it includes the twin's set.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP) $(TWIN_STAMP)

# Only what the twin needs: the service's runtime, moto and the emulator (no CDK, no test tools).
$(TWIN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[twin]"
	@touch $(TWIN_STAMP)

## make serve [PORT=8000]: the local twin (the whole service offline) on 127.0.0.1:$(PORT)
serve: $(TWIN_STAMP)
	$(BIN)/videogen serve --port $(PORT)

## make test: lint, type-check and the whole test suite (unit, API, workflow under moto, emulator)
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

## make bench: what users pay in time and money, against targets and the naive design (a few
## minutes; loopback only). Prints a table, writes bench-results.json; see docs/performance.md.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench

## make synth: the CloudFormation template in cdk.out/ (and cdk-nag's report), offline: no Docker,
## no AWS account, no network. Layer bundling (pip) is skipped here; `npx aws-cdk@2 deploy` bundles.
## Fails on any cdk-nag error without a suppression.
synth: $(STAMP)
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='{"aws:cdk:bundling-stacks": []}' $(BIN)/python app.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
