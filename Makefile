# CNN Lab: `make run` sets up and starts the app; `make test` sets up and runs the tests.
# Both are idempotent: the virtual environment is rebuilt only when a requirements file changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: setup run test test-fast bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.fileWatcherType none

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

clean:
	rm -rf $(VENV) .pytest_cache
