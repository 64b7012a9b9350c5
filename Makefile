# Every target installs what it needs into .venv/ first: requirements.lock (exact
# versions, hashes), then the project itself, editable, so that `docproc`, bench/ and
# the tests import it without sys.path edits.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export DOCPROC_TEST_DATABASE_URL ?= mysql+pymysql://root@127.0.0.1:3306/test

.PHONY: install pdf-tools lock demo serve deploy test test-unit lint format bench db init-db clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(STAMP) pdf-tools

# poppler and Tesseract, from Debian's packages when missing (plain PDFs, SPEC 2.6).
pdf-tools:
	bash .ci/ensure-pdf-tools

# Resolves pyproject.toml's ranges again against the package index; commit the result.
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra demo --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-emit-package docproc \
	  --custom-compile-command "make lock" -o requirements.lock

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

# The whole suite, with the ten slowest tests named at the end.
test: install db
	$(PY) -m pytest -q --durations=10

# Seconds, and nothing to start: the database, S3 and the Prefect API point at a closed
# port (9, discard), so a unit test that needs any of them fails here.
test-unit: install
	DOCPROC_TEST_DATABASE_URL=mysql+pymysql://root@127.0.0.1:9/none \
	  PREFECT_API_URL=http://127.0.0.1:9/api AWS_ENDPOINT_URL=http://127.0.0.1:9 \
	  $(PY) -m pytest -q --timeout=60 tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install db
	$(PY) -m bench.run

init-db: install
	$(PY) -m docproc init-db

clean:
	rm -rf $(VENV) .docproc .mypy_cache .ruff_cache .pytest_cache .hypothesis
