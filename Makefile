# Two commands for a fresh machine (Python 3.11+, Node.js): `make serve` (the local twin and its
# dashboard page) and `make test`. Each creates or reuses .venv and web/node_modules and installs
# what it needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TWIN_STAMP := $(VENV)/.installed-twin
PORT   ?= 8000
# The Lambda layers' locks (`make lock`); they also pin the same packages here, so the tests run
# exactly the versions a deploy ships. pip refuses hashes in constraints: they are dropped.
LOCKS  := $(wildcard infra/layers/*.lock)
CONSTRAINTS := $(VENV)/constraints.txt
# `make package`: the deployable cloud assembly, and what the tests and the bench read of it.
PACKAGE := cdk.out/videogen-package.json
PACKAGE_INPUTS := app.py cdk.json pyproject.toml $(LOCKS) $(wildcard infra/*.py) \
	$(shell find functions statemachines -type f ! -path '*/__pycache__/*' ! -name '*.pyc')

.PHONY: test lint typecheck unit serve synth package lock clean page browser screenshots

# Everything (tests, CDK, linters); it includes the twin's set.
$(STAMP): pyproject.toml $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' $(LOCKS) > $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet -e ".[dev]" --constraint $(CONSTRAINTS)
	@touch $(STAMP) $(TWIN_STAMP)

# Only what the twin needs: the service's runtime, moto and the emulator (no CDK, no test tools).
$(TWIN_STAMP): pyproject.toml $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	sed -e '/^ *--hash=/d' -e 's/ *\\$$//' $(LOCKS) > $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet -e ".[twin]" --constraint $(CONSTRAINTS)
	@touch $(TWIN_STAMP)

## make serve [PORT=8000]: the local twin (the whole service offline) on 127.0.0.1:$(PORT), and
## the dashboard page at http://127.0.0.1:$(PORT)/ (built first when missing or stale)
serve: $(TWIN_STAMP) page
	$(BIN)/videogen serve --port $(PORT)

## make test: lint, type-check and the whole test suite (unit, API, workflow under moto, emulator,
## the dashboard page under Vitest and in Chromium, and the packaged bundle: `make package` runs
## first when its inputs changed)
test: $(STAMP) lint typecheck page browser $(PACKAGE)
	$(BIN)/python -m pytest -n 2 --dist loadfile

# -- the dashboard page (web/): npm ci from the lockfile, then vite build into web/dist ---------------
NPM      ?= npm
WEB_DEPS := web/node_modules/.package-lock.json
WEB_PAGE := web/dist/index.html
WEB_SRC  := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.js \
            web/package.json clients/js/videoGenerationApi.js

$(WEB_DEPS): web/package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
	  cd web && $(NPM) ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	else echo "npm not found: the dashboard page is not built (its tests report themselves skipped)"; fi

$(WEB_PAGE): $(WEB_DEPS) $(WEB_SRC)
	@if [ -f $(WEB_DEPS) ]; then cd web && $(NPM) run --silent build -- --logLevel warn; fi

page: $(WEB_PAGE)

## Debian's chromium for the browser tests: installed when missing and make runs as root (CI does);
## otherwise those tests report themselves skipped, with the reason.
browser:
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || [ -n "$$VIDEOGEN_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "chromium could not be installed: the browser tests will report themselves skipped"; \
	else echo "chromium is not installed and make is not root: the browser tests will report themselves skipped"; fi

## make screenshots: the browser tests, saving the page's screenshots into docs/screenshots
screenshots: $(STAMP) page browser
	VIDEOGEN_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/web/test_browser.py -q -rs

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
bench: $(STAMP) $(PACKAGE)
	$(BIN)/python -m bench

## make synth: the quick check. The CloudFormation template in build/synth/ (and cdk-nag's report),
## offline: no Docker, no AWS account, no network, no bundling. Fails on any cdk-nag error without a
## suppression and on any cfn-lint error.
synth: $(STAMP)
	CDK_OUTDIR=build/synth CDK_CONTEXT_JSON='{"aws:cdk:bundling-stacks": []}' $(BIN)/python app.py

## make package: the deployable cdk.out/ (a minute or two): every asset bundled as `cdk deploy` uploads
## it, layers from their locks for arm64, bytecode by the runtime's Python 3.12; checked like synth.
## Deploy exactly that: npx aws-cdk@2 deploy --app cdk.out
package: $(STAMP)
	$(BIN)/python -m infra.package --outdir cdk.out

$(PACKAGE): $(STAMP) $(PACKAGE_INPUTS)
	$(BIN)/python -m infra.package --outdir cdk.out

## make lock: re-resolve the layers' locks (infra/layers/*.lock) from pyproject.toml's ranges (PyPI)
lock: $(STAMP)
	$(BIN)/python -m infra.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist web/test-results cdk.out build
