# The lab's commands. Every target sets itself up when needed.
#   make report   run the notebooks at the default scale and build the report
#   make test     pytest (labkit) + nbval (every notebook at tiny scale), on JOBS parallel workers
#   make durations  the same run, recording each test's seconds in tests/durations.json
#   make lab      JupyterLab on the notebooks
#   make setup    the virtual environment only (idempotent)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SCALE  ?= small
PYTEST_ARGS ?=
JOBS   ?= 3

.PHONY: setup java jvm-archive test durations report lab lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "error: Python 3.10+ is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing labkit and its dependencies into $(VENV) (first time: a few minutes)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,connect]'
	@touch $(STAMP)

java:
	@$(PYTHON) labkit/_java.py

# the driver JVM's class-data-sharing archive, built once per Java and pyspark (about 1.5 minutes, 200 MB in
# $(VENV)/share/labkit); a failed build is reported and sessions start without it
jvm-archive: setup java
	@-$(BIN)/labkit jvm-archive

test: setup java jvm-archive
	$(BIN)/ruff check labkit tests notebooks
	$(BIN)/lint-imports
	@# Everything on JOBS workers (a notebook's cells stay on one), then the tests that read the notebooks' results.
	@export LABKIT_TEST_STARTED=$$(date +%s); \
	  $(BIN)/python -m pytest -n $(JOBS) -m "not notebook_results" $(PYTEST_ARGS) && \
	  $(BIN)/python -m pytest -m notebook_results $(PYTEST_ARGS)

# make test's two calls, writing each test's seconds to tests/durations.json (the fast loop's slow marks, file order)
durations: setup java jvm-archive
	@export LABKIT_TEST_STARTED=$$(date +%s); \
	  $(BIN)/python -m pytest -n $(JOBS) -m "not notebook_results" --write-durations tests/durations.json $(PYTEST_ARGS); \
	  $(BIN)/python -m pytest -m notebook_results --write-durations tests/durations.json $(PYTEST_ARGS)

report: setup java jvm-archive
	$(BIN)/labkit report --scale $(SCALE)

lab: setup java jvm-archive
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check labkit tests notebooks
	$(BIN)/lint-imports

clean:
	rm -rf reports spark-warehouse metastore_db derby.log
