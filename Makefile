# kzoo: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=
# JOBS test processes run at once (JOBS=1: one after another). 6 = every shard at once:
# with 4, the last two started late and one ran alone at the end (CI 1806 s; 2 cores).
JOBS ?= 6
# Each backend runs as SHARDS processes of about equal time (tests/_sharding.py).
SHARDS ?= 2
DEMO_OUT ?= runs/demo

.PHONY: setup demo test lint bench clean wheel-smoke

# Re-install only when the project metadata changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/kzoo train --model gru --data digits-seq --backend jax --out $(DEMO_OUT) --overwrite

# One process per backend: Keras fixes its backend at import.
test: setup
	@SHARDS=$(SHARDS) tests/run_backends.sh $(PY) "$(BACKENDS)" $(JOBS) $(PYTEST_ARGS)

# The wheel as a pip user gets it: one extra (EXTRA=jax|torch|tensorflow|all),
# a clean venv, an unrelated directory. CI runs it with jax.
EXTRA ?= jax
wheel-smoke:
	PYTHON=$(PYTHON) .ci/wheel_smoke.sh $(EXTRA)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	KERAS_BACKEND=jax $(PY) benchmarks/step_time.py

clean:
	rm -rf $(VENV) build *.egg-info
