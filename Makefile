# The README's commands. Each target is idempotent and quick on its second run.
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: system-deps run demo test lint serve bench screenshots sync clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

# runserver, with a background worker and the scheduler beside it (`manage.py supervise`): all
# three end together on Ctrl-C. The worker does not reload on code changes: restart make run.
run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py supervise -- \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The production way, locally: DEBUG off, migrate, collectstatic, gunicorn (gunicorn.conf.py),
# and beside it a background worker and the scheduler, so that Sync now works as it does in
# production (where they are services of their own, docs/deploy.md); all three end together.
# SECRET_KEY and DASHBOARD_CREDENTIAL_KEYS come from the environment, else from the files that
# `make run` generated in the data dir. Plain HTTP on loopback, so cookies are not Secure-only
# unless you say so.
serve: $(STAMP)
	@set -e; data="$${DASHBOARD_DATA_DIR:-data}"; \
	if [ -z "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}" ] && [ -f "$$data/secret_key" ]; then \
	  export SECRET_KEY_FILE="$$data/secret_key"; fi; \
	if [ -z "$${DASHBOARD_CREDENTIAL_KEYS:-}$${DASHBOARD_CREDENTIAL_KEYS_FILE:-}" ] \
	  && [ -f "$$data/credential_keys" ]; then \
	  export DASHBOARD_CREDENTIAL_KEYS_FILE="$$data/credential_keys"; fi; \
	if [ -z "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}" ] \
	  || [ -z "$${DASHBOARD_CREDENTIAL_KEYS:-}$${DASHBOARD_CREDENTIAL_KEYS_FILE:-}" ]; then \
	  echo "make serve needs SECRET_KEY and DASHBOARD_CREDENTIAL_KEYS (or their _FILE): set" \
	    "them, or run 'make run' once to generate development ones into $$data/." >&2; \
	  exit 1; fi; \
	export DEBUG=false ALLOWED_HOSTS="$${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1]}" \
	  SESSION_COOKIE_SECURE="$${SESSION_COOKIE_SECURE:-false}" \
	  CSRF_COOKIE_SECURE="$${CSRF_COOKIE_SECURE:-false}" \
	  GUNICORN_BIND="$${GUNICORN_BIND:-$(HOST):$(PORT)}"; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0; \
	echo "Serving on http://$$GUNICORN_BIND (DEBUG off, gunicorn, a worker and the scheduler)"; \
	exec $(BIN)/python manage.py supervise -- $(BIN)/gunicorn -c gunicorn.conf.py dashboard.wsgi

demo: $(STAMP)
	DEBUG=true DASHBOARD_DATA_DIR=$${DASHBOARD_DATA_DIR:-data/demo} $(BIN)/python manage.py demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Chromium and nginx for the browser and proxy tests: installed when missing (as root).
system-deps:
	bash .ci/system-deps

test: system-deps lint
	$(BIN)/pytest

# The README's pictures: the browser suite's screenshot test, then its PNGs into docs/img/.
screenshots: $(STAMP)
	$(BIN)/pytest -q tests/test_e2e.py -k test_screenshots
	mkdir -p docs/img
	cp test-results/screenshots/*.png docs/img/

# The benchmarks (docs/performance.md): under 10 minutes; QUICK=1 for a smaller run, under a minute.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) staticfiles .bench
