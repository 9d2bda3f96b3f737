# callcenter — `make run` starts the call center, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
# The demo answers around the clock; `make run OPEN_ALL_HOURS=0` uses the hours in config.yaml.
OPEN_ALL_HOURS ?= 1

.PHONY: install run test test-sqlite test-postgres test-cluster lint format bench services \
	cluster cluster-stop clean

$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,deploy]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

## Prepare the database and demo data, then serve on http://$(HOST):$(PORT), open around the
## clock (the public URL follows HOST and PORT unless CALLCENTER_PUBLIC_URL is set)
run: install
	$(BIN)/callcenter db upgrade
	$(BIN)/callcenter customers import demo/customers.csv
	$(BIN)/callcenter agents demo
	$(BIN)/callcenter kb sync
	$(BIN)/callcenter flows check
	$(BIN)/callcenter serve --host $(HOST) --port $(PORT) \
		$(if $(filter 1 yes true,$(OPEN_ALL_HOURS)),--open-all-hours)

## The whole suite on SQLite, then on PostgreSQL when CALLCENTER_TEST_POSTGRES_URL is set
test: install lint test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest

test-postgres: install
	@if [ -n "$$CALLCENTER_TEST_POSTGRES_URL" ]; then \
		echo "== the suite again on PostgreSQL =="; \
		CALLCENTER_TEST_DATABASE_URL="$$CALLCENTER_TEST_POSTGRES_URL" $(BIN)/pytest; \
	else \
		echo "CALLCENTER_TEST_POSTGRES_URL is not set: PostgreSQL run skipped (see scripts/services.sh)"; \
	fi

lint: install
	$(BIN)/ruff check callcenter tests bench
	$(BIN)/ruff format --check callcenter tests bench

format: install
	$(BIN)/ruff format callcenter tests bench
	$(BIN)/ruff check --fix callcenter tests bench

## The cluster tests: start the cluster (below), run tests/test_cluster*.py on it, stop it
test-cluster: install
	bash scripts/cluster.sh start
	@eval "$$(bash scripts/cluster.sh env)"; status=0; \
		$(BIN)/pytest -m cluster tests/test_cluster.py tests/test_cluster_faults.py tests/test_cluster_once.py || status=$$?; \
		bash scripts/cluster.sh stop; exit $$status

## Several processes on this machine: nginx (sticky sessions) in front of gunicorn app
## processes, Redis, PostgreSQL and the download worker (Debian packages; see
## docs/deployment.md#the-cluster). `make cluster-stop` stops them.
cluster: install
	bash scripts/cluster.sh start

cluster-stop:
	bash scripts/cluster.sh stop

## Benchmarks (not tests): webhook cost against a bare Flask handler, KB search latency,
## recording download throughput
bench: install
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/kb_search.py
	$(BIN)/python bench/recording_downloads.py

## Install and start PostgreSQL locally (Debian), printing the URL to export
services:
	bash scripts/services.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
