# Every target installs what it needs into .venv/ first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export DOCPROC_TEST_DATABASE_URL ?= mysql+pymysql://root@127.0.0.1:3306/test

.PHONY: install demo serve deploy test lint format bench db init-db clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(STAMP)

demo: install
	$(PY) -m docproc demo

serve: install
	$(PY) -m docproc serve

# Registers the deployments of prefect.yaml with the server at PREFECT_API_URL;
# workers then run them from this checkout.
deploy: install
	DOCPROC_HOME=$(CURDIR) $(VENV)/bin/prefect --no-prompt deploy --all

db: install
	PYTHON=$(PY) bash .ci/ensure-mariadb

test: install db
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install db
	$(PY) bench/run.py

init-db: install
	$(PY) -m docproc init-db

clean:
	rm -rf $(VENV) .docproc .mypy_cache .ruff_cache .pytest_cache .hypothesis
