# Kring: the two everyday commands are `make run` and `make test`.
#
# Everything else is installed on demand into the work tree: a virtualenv in .venv
# (pip runs again only when requirements.txt changes) and node_modules (npm ci runs again
# only when package-lock.json changes), whose browser builds are copied to app/static/vendor/.
#
# Variables (environment or command line): HOST (127.0.0.1), PORT (5000), PYTHON (python3),
# PYTEST_ARGS (extra pytest arguments, e.g. PYTEST_ARGS="-k smoke -x").

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
export HOST PORT

VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
VENV_STAMP := $(VENV)/.requirements.stamp
NODE_STAMP := node_modules/.stamp
VENDOR := app/static/vendor
VENDOR_FILES := $(VENDOR)/socket.io.min.js $(VENDOR)/chart.umd.min.js

.PHONY: help setup run test migrate seed worker lint clean distclean

help:
	@echo "make run       set up, migrate, load the demo if the database is empty, serve on http://$(HOST):$(PORT)/"
	@echo "make test      set up and run the test suite (PYTEST_ARGS=... passes options to pytest)"
	@echo "make setup     create .venv, install Python and front-end packages (only what changed)"
	@echo "make migrate   apply database migrations"
	@echo "make seed      load the demo organisation (only into an empty database)"
	@echo "make worker    run background jobs in their own process (at scale)"
	@echo "make lint      ruff, and the import layers contract (.importlinter)"
	@echo "make clean     remove caches, node_modules and vendored files (keeps .venv and instance/)"
	@echo "make distclean clean, and remove .venv too"

setup: $(VENV_STAMP) $(VENDOR_FILES)

# --- Python -------------------------------------------------------------------------------
$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; Kring needs Python 3.11 or newer." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: Kring needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "       Run with PYTHON=/path/to/python3.11 (or newer)." >&2; exit 1; }
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "error: could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)." >&2; exit 1; }

$(VENV_STAMP): requirements.txt | $(PY)
	@echo "==> installing Python packages (new .venv or requirements.txt changed)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# --- Front end (nothing from a CDN: packages from package-lock.json, copied at setup) -------
$(NODE_STAMP): package-lock.json package.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js (18 or newer) and npm." >&2; exit 1; }
	@echo "==> installing front-end packages (first setup or package-lock.json changed)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Copy a browser build and its source map (when the package ships one).
define copy_vendor
	@mkdir -p $(VENDOR)
	@src=""; for f in $(1); do if [ -f "$$f" ]; then src="$$f"; break; fi; done; \
	  [ -n "$$src" ] || { echo "error: none of $(1) exists; run 'npm ci' again." >&2; exit 1; }; \
	  cp "$$src" $@; if [ -f "$$src.map" ]; then cp "$$src.map" $@.map; fi
endef

$(VENDOR)/socket.io.min.js: $(NODE_STAMP)
	$(call copy_vendor,node_modules/socket.io-client/dist/socket.io.min.js)

$(VENDOR)/chart.umd.min.js: $(NODE_STAMP)
	$(call copy_vendor,node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.js)

# --- Everyday commands --------------------------------------------------------------------
run: setup
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	$(PY) wsgi.py

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

migrate: setup
	$(FLASK) db upgrade

seed: setup
	$(FLASK) seed-demo --if-empty

worker: setup
	$(FLASK) worker

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf node_modules $(VENDOR) .pytest_cache .ruff_cache .hypothesis test-results $(VENV_STAMP)
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
