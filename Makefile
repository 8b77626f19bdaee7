# CreditGate — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_SUBJECTS ?= 2000
WORKERS ?= 2
# the app's development public URL (CREDITGATE_PUBLIC_URL's default) follows where it is served
export HOST PORT
SYSTEM_PACKAGES := python3-venv softhsm2 opensc sqlite3 curl openssl fonts-wqy-zenhei
TEST_PACKAGES := chromium postgresql-client poppler-utils libnss3-tools nginx-light

.PHONY: run serve setup test lint typecheck importlint audit sbom lock pytest bench system-deps install install-dev clean

run: setup serve

setup: system-deps install
	@$(PY) -m app.i18n --check
	@$(FLASK) hsm init
	@$(FLASK) db upgrade
	@$(FLASK) reports certify
	@$(FLASK) demo seed --subjects $(DEMO_SUBJECTS) --if-missing
	@$(FLASK) cards demo --count 3
	@$(FLASK) hsm selftest >/dev/null && echo "HSM self-test passed"

serve:
	@echo
	@echo "CreditGate is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "  log in with a demo card (usernames, passwords, PINs above and in var/demo-credentials.txt):"
	@echo "        SOFTHSM2_CONF=var/softhsm/softhsm2.conf .venv/bin/python -m app.client login --url http://localhost:$(PORT) --username demo-subject-1 --token-label creditgate-card-1"
	@echo "  then: .venv/bin/python -m app.client report       # own credit report (also: query-records, search, consent create)"
	@echo "  try:  curl -s http://$(HOST):$(PORT)/readyz"
	@echo "        curl -s http://$(HOST):$(PORT)/api/v1/catalog | head -c 600"
	@echo "        $(FLASK) hsm selftest"
	@echo "        $(FLASK) demo seed --subjects 100000 --seed 7   # city scale"
	@echo
	@$(VENV)/bin/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - wsgi:app

system-deps:
	@scripts/system-deps.sh $(SYSTEM_PACKAGES)

# Built on pip, not python: a venv whose creation failed half-way has a python but no pip.
$(VENV)/bin/pip:
	@rm -rf $(VENV) && python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/pip
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(VENV)/bin/pip
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

test: system-deps install-dev
	@scripts/system-deps.sh $(TEST_PACKAGES)
	@scripts/ensure-postgres.sh
	@$(PY) -m app.i18n --check
	@$(MAKE) --no-print-directory lint typecheck importlint audit pytest

lint:
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

# Known vulnerabilities in the pinned runtime dependencies (PyPI's advisory data; needs the
# network). A package the index has no release metadata for is listed as skipped; CI sets
# AUDIT_FLAGS=--strict so that a skip fails too. Fix time frames: docs/dependencies.md.
AUDIT_FLAGS ?=
audit:
	@$(VENV)/bin/pip-audit --require-hashes --disable-pip --progress-spinner off $(AUDIT_FLAGS) -r requirements.txt

# The CycloneDX SBOM of what `make install` installs (tests check it matches requirements.txt).
sbom:
	@$(VENV)/bin/cyclonedx-py requirements --pyproject pyproject.toml --output-reproducible \
		--of JSON -o security/sbom.cdx.json requirements.txt

# Re-pin after editing requirements*.in (keeps existing pins unless told: --upgrade-package P).
PIP_COMPILE := $(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock:
	@$(PIP_COMPILE) -o requirements.txt requirements.in
	@$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in
	@$(MAKE) --no-print-directory sbom

typecheck:
	@$(VENV)/bin/mypy

importlint:
	@$(VENV)/bin/lint-imports

pytest:
	@$(VENV)/bin/pytest -n auto  # one worker per core (pytest-xdist)

bench: system-deps install-dev
	@scripts/system-deps.sh wrk procps
	@$(PY) -m bench

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
