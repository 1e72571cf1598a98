# Every target sets itself up: a virtualenv at .venv with mulligan installed in it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
TASKS ?= 50
PYTEST_ARGS ?=

.PHONY: setup run test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned: 2.13.0 has a CPU build here; an open range pulls CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	# The venv's bin first on PATH: Fast Downward (textworld[pddl], for ALFWorld) builds by calling `python`.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

# The main job: the embedded default policy on household `unseen`, offline, its actions kept
# among the admissible ones (BENCHMARKS.md: 29% -> 48% success on 200 tasks with the constraint).
run: setup
	$(BIN)/mulligan run mulligan/Household-v0 --split unseen --tasks $(TASKS) -o admissible=nearest

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/household.py

clean:
	rm -rf $(VENV) .pytest_cache
