# Weft: `make run` starts the platform, `make test` installs what it needs and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | md5sum | cut -c1-12)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/weft
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint bench bench-scale migrate check-services check-browser studio-assets clean
CHROMIUM ?= /usr/bin/chromium

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Weft needs Python 3.11+: set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## run: the whole platform on this machine with embedded defaults (SQLite, local-memory cache).
run: install
	@DEBUG=1 WEFT_DEV=1 WEFT_LOG_FORMAT=$${WEFT_LOG_FORMAT:-console} $(PY) manage.py weft_run

## test: lint, migrations check and the whole suite against PostgreSQL and Redis.
test: install check-services check-browser
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(MAKE) --no-print-directory lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) WEFT_CHROMIUM=$(CHROMIUM) \
		$(PY) -m pytest -q -p no:cacheprovider

## lint: ruff, the import contracts (pyproject.toml, docs/house.md) and migrations in step.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo --no-cache
	DJANGO_SETTINGS_MODULE=config.settings_test $(PY) manage.py makemigrations --check --dry-run

## check-browser: the Studio's browser tests need Debian's Chromium (Playwright drives it).
check-browser:
	@test -x $(CHROMIUM) || { echo "No browser for the Studio's browser tests: $(CHROMIUM) is missing. Install it with 'apt-get install -y chromium' (or set CHROMIUM=/path/to/chromium)."; exit 1; }

## studio-assets: rebuild the Studio's committed bundles (studio/static/studio/) from the
## pinned npm packages (studio/frontend/package-lock.json). Only needed after front-end changes.
studio-assets:
	cd studio/frontend && npm ci --no-audit --no-fund && node build.mjs

check-services:
	@command -v pg_isready >/dev/null || { echo "pg_isready not found: apt-get install postgresql-client"; exit 1; }
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432 (see README: Services)"; exit 1; }
	@$(PY) bin/ensure_database.py $(TEST_DATABASE_URL)
	@$(PY) -c "import redis,sys; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=2).ping()" \
		|| { echo "Redis is not answering at $(TEST_REDIS_URL) (see README: Services)"; exit 1; }

## bench: the engine in-process, Weft against a Celery chain on real workers, local SQS and
## PostgreSQL, DBOS Transact (bench-only, bench/requirements-dbos.txt) on the same
## PostgreSQL and shapes, then 1,000 timers due at once, then the cost of tracing (Weft with
## traces off and on, alternating; needs 127.0.0.1:5432 and Redis on 6379; ~20 min);
## figures go to bench/RESULTS.md.
bench: install
	@mkdir -p var
	$(PY) -m pip install --quiet -r bench/requirements-dbos.txt
	set -o pipefail; $(PY) -m bench.engine | tee var/bench-engine.txt
	$(PY) -m bench.distributed --engine-output var/bench-engine.txt
	$(PY) -m bench.round_trips
	$(PY) -m bench.timers
	@# The cost of tracing: workers with traces off and on, runs alternating (section "Tracing cost").
	set -o pipefail; $(PY) -m bench.tracing_cost | tee var/bench-tracing.txt

## bench-scale: 100,000 instances and 2,000,000 journal rows seeded with COPY, list pages of the
## API and the admin timed (p50/p95), then retention (archive to the local S3, and without)
## while real workers run workflows; its own database (weft_scale_bench, dropped after), its
## section of bench/RESULTS.md under SCALE_LABEL. Quick: SCALE_ARGS="--instances 2000 --journal 40000".
SCALE_LABEL ?= latest
SCALE_ARGS ?=
bench-scale: install
	$(PY) -m bench.scale --label $(SCALE_LABEL) $(SCALE_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
