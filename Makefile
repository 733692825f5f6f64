# kzoo: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
PYTEST_ARGS ?=
# Backends run concurrently (each in its own process); JOBS=1 runs them one after another.
JOBS ?= 3
DEMO_OUT ?= runs/demo

.PHONY: setup demo test lint bench clean

# Re-install only when the project metadata changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/kzoo train --model gru --data digits-seq --epochs 40 --batch-size 32 \
		--lr 3e-3 --hp units=128 --hp bidirectional=true --hp dropout=0.2 --early-stopping 8 \
		--backend jax --out $(DEMO_OUT) --overwrite

# One process per backend: Keras fixes its backend at import.
test: setup
	@tests/run_backends.sh $(PY) "$(BACKENDS)" $(JOBS) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	KERAS_BACKEND=jax $(PY) benchmarks/step_time.py

clean:
	rm -rf $(VENV) build *.egg-info
