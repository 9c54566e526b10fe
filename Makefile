# The two commands of the README: `make main` (the main job) and `make test` (every test).
# Both create .venv and install what they need; on a machine without an NVIDIA GPU the CPU
# build of torch is installed first so the range in pyproject.toml does not pull a CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sqltune-installed

.PHONY: install main main-smoke test test-fast bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q torch==2.13.0; fi
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

main: install
	$(BIN)/sqltune pipeline cpg --out main-job.json

main-smoke: install
	$(BIN)/sqltune pipeline cpg --model smollm2-135m --smoke

test: install
	$(BIN)/python -m pytest -m 'slow or not slow' -q

test-fast: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/introspect_bench.py
	$(BIN)/python benchmarks/accuracy_bench.py

clean-venv:
	rm -rf $(VENV)
