# The README's two set-up commands: `make run` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export KPI_PIPELINE_DUCKDB ?= $(CURDIR)/data/kpi_pipeline.duckdb
export KPI_PIPELINE_LANDING ?= $(CURDIR)/data/landing
export KPI_PIPELINE_REPORTS ?= $(CURDIR)/reports

# How many days of demo history `make run` materializes (ending yesterday).
HISTORY_DAYS ?= 728
REPORT_PERIODS ?= 4

.PHONY: install run test test-fast ui lint lock clean

install: $(VENV)/.installed

# uv installs the locked versions in seconds; plain pip is the fallback if uv is unavailable.
# --compile-bytecode writes every module's .pyc at install time: without it a machine that
# sets PYTHONDONTWRITEBYTECODE compiles Dagster, pandas and GX again in every process
# (about 2 s of each run's start and of every test worker's imports).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if $(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"; then \
	  $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock && \
	  $(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e . ; \
	else \
	  $(BIN)/python -m pip install -q -r requirements.lock && \
	  $(BIN)/python -m pip install -q --no-deps -e . ; \
	fi
	touch $@

run: install
	$(BIN)/python -m kpi_pipeline.cli run --days $(HISTORY_DAYS) --report-periods $(REPORT_PERIODS) $(if $(EPHEMERAL),--ephemeral,) $(if $(PARTIAL_REPORTS),--partial-reports,)

# Both cores: tests are spread by file (module fixtures stay in one worker), in the order
# they are collected: the files holding slow tests first (kpi_pipeline_tests/conftest.py).
PYTEST_PARALLEL ?= -n 2 --dist loadfile --no-loadscope-reorder

test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-fast: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

# The Dagster UI; stops on SIGTERM (sent to make, which forwards it) or SIGINT (Ctrl-C),
# even when started in the background: kpi_pipeline/ui.py says why it wraps `dg dev`.
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

ui: install
	$(BIN)/python -m kpi_pipeline.ui -w workspace.yaml --host $(UI_HOST) --port $(UI_PORT)

lint: install
	$(BIN)/ruff check .

# Re-resolve the lock after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf data $(VENV) dagster_home/storage dagster_home/history dagster_home/logs dagster_home/schedules
	find reports -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} +
