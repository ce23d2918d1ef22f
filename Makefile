# Two commands on a fresh machine with Python >= 3.11, pip and make:
#   make run    create .venv, install, migrate, load the demo catalog into an empty database and serve on
#               http://127.0.0.1:8000 (SQLite, local files)
#   make test   create .venv, install the test dependencies, run the suite (embedded, then scaled out)
#   make fuzz   a longer fuzzing run of the whole HTTP API from its OpenAPI description, both backends, from a
#               random seed it prints: MODELYARD_FUZZ_EXAMPLES (default 100 per operation and caller) and
#               MODELYARD_FUZZ_SEED (repeat a run) may be set; `make test` runs the same test with a fixed seed

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test fuzz bench bench-quick lint typecheck clean

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

fuzz: $(DEV_STAMP)
	@seed=$${MODELYARD_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "fuzz seed $$seed (repeat with: make fuzz MODELYARD_FUZZ_SEED=$$seed)"; \
	MODELYARD_FUZZ_SEED=$$seed MODELYARD_FUZZ_EXAMPLES=$${MODELYARD_FUZZ_EXAMPLES:-100} \
		bash scripts/test.sh tests/core/test_fuzz_api.py --timeout=0 -s -q

# The benchmarks' baselines drive system programs (b3sum, nginx): installed first, as `make test` does.
bench: $(DEV_STAMP)
	bash scripts/ensure-system-packages.sh
	$(BIN)/python -m bench.run

bench-quick: $(DEV_STAMP)
	bash scripts/ensure-system-packages.sh
	$(BIN)/python -m bench.run --quick

lint: $(DEV_STAMP)
	$(BIN)/ruff check modelyard tests bench
	$(BIN)/ruff format --check modelyard tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
