# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka/libs/.complete
# Debian packages under acceptance's PDF documents (WeasyPrint): a CJK font, Pango, HarfBuzz's subsetter
# (without it WeasyPrint subsets fonts with fontTools, over ten times slower) and fontconfig (fc-list).
SYSTEM_PACKAGES := fonts-wqy-microhei fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-postgres bench lint unit install kafka-libs system-packages clean

run: install kafka-libs system-packages  ## start Kafka, the four services and the gateway on 127.0.0.1
	$(PY) -m tools.platform run

test: install kafka-libs system-packages lint  ## every test: unit, integration (real Kafka, real SQLite), end to end
	$(PY) -m pytest -q

unit: install system-packages  ## the fast tests only (no broker)
	$(PY) -m pytest -q tests/unit tests/contract

test-postgres: install kafka-libs  ## the end-to-end flow with every service on PostgreSQL (installs it if missing)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	$(PY) -m tools.postgres

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

bench: install kafka-libs system-packages  ## prints the figures recorded in docs/benchmarks.md (about 14 minutes)
	$(PY) -m tools.bench
	$(PY) -m tools.bench_timers
	$(PY) -m tools.bench_monitoring
	$(PY) -m tools.bench_disclosure
	$(PY) -m tools.bench_approval
	$(PY) -m tools.bench_gateway
	$(PY) -m tools.bench_door

install: $(STAMP)

$(STAMP): requirements.lock requirements-pip.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(STAMP)

kafka-libs: $(KAFKA_LIBS)

$(KAFKA_LIBS): infra/kafka/pom.xml | $(STAMP)
	$(PY) -m tools.kafka_broker fetch

system-packages:  ## the PDF documents' Debian packages (a CJK font, Pango, HarfBuzz subset), installed if missing
	@fc-list :lang=zh family 2>/dev/null | grep -q . \
	  && ls /usr/lib/*/libpangoft2-1.0.so.0 /usr/lib/*/libharfbuzz-subset.so.0 >/dev/null 2>&1 \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES))

clean:
	rm -rf var .pytest_cache
