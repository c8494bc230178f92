# The two commands: `make run` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
B ?=

.PHONY: install run test lint bench clean-db

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv
	@# uv installs without byte-compiling (the Alipay SDK alone is ~36k files): the --no-compile install.
	@$(VENV)/bin/uv pip install -q --python $(PY) -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	@bash infra/debian-packages.sh run
	@$(PY) -m infra.dev run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install
	@bash infra/debian-packages.sh test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m infra.dev exec --probe-local --testing -- sh -c '\
	  $(PY) manage.py makemigrations --check --dry-run && \
	  $(PY) -m pytest $(if $(CI),--create-db,) $(PYTEST_ARGS)'

bench: install
	$(PY) -m infra.dev exec --probe-local --testing -- $(PY) -m infra.bench $(B)

clean-db:
	rm -rf var/pgdata
