# CNN Lab: `make run` sets up and starts the app; `make test` sets up and runs the tests.
# Both are idempotent: the virtual environment is rebuilt only when a requirements file changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
# The address students type (printed at start). Given, Streamlit does not ask checkip.amazonaws.com for the
# server's public address, which it does on every headless start otherwise: nothing leaves the server.
SERVER_ADDRESS ?= $(or $(firstword $(shell hostname -I 2>/dev/null)),localhost)
STREAMLIT_FLAGS := --server.port $(PORT) --server.fileWatcherType none --browser.serverAddress $(SERVER_ADDRESS)

.PHONY: setup setup-ray run run-ray test test-fast wheel bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $(STAMP)

# Ray (optional), for training jobs on a cluster: on the app's machine and on every worker machine.
RAY_STAMP := $(VENV)/.ray-installed
setup-ray: $(RAY_STAMP)

$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(BIN)/python -m pip install --quiet -r requirements-ray.txt
	touch $(RAY_STAMP)

# The app with its trainings on the Ray cluster at RAY_ADDRESS (default: the one this machine belongs to).
RAY_ADDRESS ?= auto
run-ray: setup-ray
	CNNKIT_RAY_ADDRESS=$(RAY_ADDRESS) $(BIN)/streamlit run server.py $(STREAMLIT_FLAGS)

run: setup
	$(BIN)/streamlit run server.py $(STREAMLIT_FLAGS)

test: setup setup-ray
	$(BIN)/python -m pytest -q

test-fast: setup setup-ray
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

# The pip package (dist/cnn_lab-<version>-py3-none-any.whl): what `pip install cnn-lab` installs; see setup.py.
wheel: setup
	rm -rf build dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) .pytest_cache build dist
