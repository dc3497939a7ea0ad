# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each bootstraps its own virtual environment (.venv for the project, .venv-sam for the SAM CLI,
# which pins its own boto3 and so lives apart).

PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION ?= 1.170.0

# `sam build` needs a Python of the runtime's minor version (3.13) on PATH. With pyenv, put its 3.13 first.
PY313_PREFIX := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1 | xargs -r pyenv prefix 2>/dev/null)
SAM_PATH := $(if $(PY313_PREFIX),$(PY313_PREFIX)/bin:,)$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help demo local test unit sam-check bench fuzz clean chromium

help:
	@echo "make demo   - run the workflows on the local emulation with the bundled Czech sample CRM"
	@echo "make test   - the whole test suite, then sam validate --lint and sam build"
	@echo "make local  - keep the local emulation running (HTTP API + moto server + clock control)"
	@echo "make bench  - benchmarks (read ratios, latencies) measured in one run"
	@echo "make fuzz   - fuzz every public endpoint with 10,000+ requests (FUZZ_CASES=... to scale)"

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

$(SAM_VENV)/.stamp:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

demo: $(VENV)/.stamp
	$(PY) -m crm_local demo

local: $(VENV)/.stamp
	$(PY) -m crm_local serve

# The HTML report's browser test drives the system Chromium through Playwright (no `playwright install`).
# CI runs as root; elsewhere install it once by hand: sudo apt-get install -y chromium
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Chromium for the HTML report's browser test (apt-get install chromium)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
	fi

unit: $(VENV)/.stamp chromium
	$(PY) -m pytest -q

test: unit sam-check

sam-check: $(SAM_VENV)/.stamp
	$(SAM) validate --lint
	PATH="$(SAM_PATH)" $(SAM) build --cached --parallel

FUZZ_CASES ?= 10000

fuzz: $(VENV)/.stamp
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_REPORT=out/fuzz-summary.txt $(PY) -m pytest -q -p no:logging tests/fuzz

bench: $(VENV)/.stamp
	$(PY) -m crm_local.bench

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam out .pytest_cache
