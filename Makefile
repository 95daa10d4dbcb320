# Two commands for a fresh clone: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# On the course machines a CPU-only torch wheel lies in /opt/wheels; pin to it so no
# install step pulls the multi-GB CUDA build. Elsewhere pip picks your usual torch.
CONSTRAINTS := $(if $(wildcard /opt/wheels/torch-2.13.0*),-c constraints.txt,)
PYTEST_ARGS ?=

.PHONY: setup demo test solutions bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## only the environment

demo: $(STAMP)  ## the kit's main job, offline
	$(BIN)/ganlab demo

test: $(STAMP)  ## the whole test suite (README, Tests: the same command)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=30 $(PYTEST_ARGS)

solutions: $(STAMP)  ## regenerate solutions/ through nbgrader
	$(BIN)/ganlab solutions

bench: $(STAMP)  ## print the benchmark ratios
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
