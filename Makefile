# churnhealth — run `make help` for the list of targets.
# On a fresh clone every target installs what it needs first: `make test` and `make data` just work.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.notebook
NOTEBOOK := notebooks/01-explore-health-scores.ipynb
CONFIG ?= configs/default.yaml
DATA ?= data/demo.duckdb
UI_PORT ?= 5000
export MLFLOW_DISABLE_TELEMETRY := true

.DEFAULT_GOAL := help
.PHONY: help install data train predict monitor backtest report ui notebook docs test test-fast lint format clean

help: ## List the targets with a one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install churnhealth with its dev extras (no-op when up to date)

$(DATA): | $(STAMP)
	$(BIN)/churnhealth synth --out $(DATA) --config $(CONFIG)

data: $(DATA) ## Generate the demo company into data/demo.duckdb if it is missing

train: $(DATA) ## Build features, train and calibrate segment models, register the champion in MLflow
	$(BIN)/churnhealth train --data $(DATA) --config $(CONFIG)

predict: $(STAMP) ## Score every active account with the champion: health, tier, trend, drivers
	$(BIN)/churnhealth predict --data $(DATA) --config $(CONFIG)

monitor: $(STAMP) ## Check the champion for feature drift, score drift and decay (monitor.json)
	$(BIN)/churnhealth monitor --data $(DATA) --config $(CONFIG)

backtest: $(DATA) ## Rolling-origin backtest: retrain monthly on the past, score the next month
	$(BIN)/churnhealth backtest --data $(DATA) --config $(CONFIG)

reports/latest/backtest.json: | $(DATA)
	$(BIN)/churnhealth backtest --data $(DATA) --config $(CONFIG)

reports/latest/monitor.json: | $(STAMP)
	$(BIN)/churnhealth monitor --data $(DATA) --config $(CONFIG)

report: reports/latest/backtest.json reports/latest/monitor.json ## HTML report (reports/latest/report.html); runs the backtest and monitor first if missing
	$(BIN)/churnhealth report --data $(DATA) --config $(CONFIG)

ui: $(STAMP) ## Open the MLflow experiment UI on http://127.0.0.1:5000 (UI_PORT=5001 for another port)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root ./mlartifacts --host 127.0.0.1 --port $(UI_PORT)

$(NOTEBOOK_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,notebook]"
	@touch $@

notebook: $(NOTEBOOK_STAMP) ## Open the exploration notebook in Jupyter Lab (installs it on first use)
	$(BIN)/jupyter lab --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) $(or $(wildcard $(NOTEBOOK)),notebooks)

docs: $(STAMP) ## Regenerate docs/configuration.md and the reports' JSON Schemas (docs/schemas/) from their models
	$(BIN)/python -m churnhealth.config_docs docs/configuration.md
	$(BIN)/python scripts/schemas.py docs/schemas

# The inner loop: the unit and data tests, without the ones that start a server or a heavy engine
# (a private PostgreSQL cluster, Spark on Java), without those marked slow (the default-size
# demo company, training end to end), and with 6 examples per property test instead of 20.
# Headless Chromium and the MLflow server are only used under tests/model.
FAST_TESTS := tests/unit tests/data \
	--ignore=tests/data/test_postgres.py --ignore=tests/data/test_spark.py -m "not slow" \
	--hypothesis-profile=fast
# Files run in the order tests/conftest.py gives them (longest first), not xdist's (most tests
# first). More pytest options for `make test` and `make test-fast`, e.g. PYTEST_ARGS="-x -k hazard".
PYTEST_ARGS ?=

test: $(STAMP) ## Run the whole test suite (unit, data, model)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

test-fast: $(STAMP) ## Unit and data tests without servers, engines or slow tests (inner loop)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder $(FAST_TESTS) $(PYTEST_ARGS)

lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP) ## Reformat the code with ruff
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean: ## Remove generated data, outputs and the virtual environment
	rm -rf $(VENV) data outputs reports mlartifacts mlflow.db .pytest_cache
