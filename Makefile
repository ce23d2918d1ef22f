# Two commands on a fresh machine with Python >= 3.11, pip and make:
#   make run    create .venv, install, migrate, load the demo catalog into an empty database and serve on
#               http://127.0.0.1:8000 (SQLite, local files)
#   make test   create .venv, install the test dependencies, run the suite (embedded, then scaled out)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test bench bench-quick lint typecheck clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Modelyard needs Python >= 3.11 (found " + sys.version.split()[0] + "); run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/modelyard migrate && $(BIN)/modelyard demo --if-empty && $(BIN)/modelyard serve

test: $(DEV_STAMP)
	bash scripts/test.sh

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(DEV_STAMP)
	$(BIN)/python -m bench.run --quick

lint: $(DEV_STAMP)
	$(BIN)/ruff check modelyard tests bench
	$(BIN)/ruff format --check modelyard tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
