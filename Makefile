# datastack: run `make` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# uv from PATH, else the one pip put into this Python (`python3 -m uv` finds it wherever it landed).
UV ?= $(shell command -v uv || echo python3 -m uv)
VENV := .venv
BIN := $(VENV)/bin
TARGET ?= postgres
PYTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SETUP_STAMP := $(VENV)/.setup-done

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: setup
setup: $(SETUP_STAMP) ## Install everything a fresh machine needs (system packages, venv, Kafka jars, DuckDB extensions).

$(SETUP_STAMP): pyproject.toml uv.lock services/infra/kafka-pom.xml
	@missing=""; \
	java_major=$$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'); \
	[ "$${java_major:-0}" -ge 17 ] 2>/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	{ $(UV) --version >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; } || missing="$$missing python3-pip"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo ">> installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@$(UV) --version >/dev/null 2>&1 || { echo ">> installing uv"; python3 -m pip install -q uv 2>/dev/null \
		|| python3 -m pip install -q --user --break-system-packages uv; }
	$(UV) sync --frozen
	$(BIN)/python -c "from services.infra.kafka import fetch_kafka; print('kafka jars:', fetch_kafka())"
	$(BIN)/python -c "import duckdb; from services.lake.connect import ensure_extensions; ensure_extensions(duckdb.connect(), ('ducklake', 'postgres', 'httpfs'))"
	@touch $@

##@ Development

.PHONY: dev
dev: setup ## Run the stack locally: infra + producers (replay) + sink + lake syncer. Ctrl-C stops it.
	$(BIN)/datastack dev

.PHONY: infra-up
infra-up: setup ## Start (or reuse) local PostgreSQL and Kafka; prints `export` lines.
	$(BIN)/datastack infra up

.PHONY: infra-down
infra-down: ## Stop local PostgreSQL and Kafka (data kept in .local/).
	@[ ! -x $(BIN)/datastack ] || $(BIN)/datastack infra down

.PHONY: infra-status
infra-status: ## Show whether the local servers are running.
	$(BIN)/datastack infra status

.PHONY: lint
lint: setup ## Ruff (lint + format check) and mypy --strict.
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests
	$(BIN)/mypy

.PHONY: format
format: setup ## Apply ruff fixes and formatting.
	$(BIN)/ruff check --fix services tests
	$(BIN)/ruff format services tests

.PHONY: contract
contract: setup ## Regenerate the JSON Schemas of the data contract.
	$(BIN)/datastack contract export

##@ dbt

.PHONY: dbt-build
dbt-build: setup ## dbt build on TARGET=postgres|lake against the local stack (make infra-up; lake needs `datastack sync`).
	eval "$$($(BIN)/datastack infra up)" && cd dbt_project && ../$(BIN)/dbt build --target $(TARGET) --profiles-dir .

.PHONY: dbt-parse
dbt-parse: setup ## Write dbt_project/target/manifest.json for TARGET (no database needed; the Dagster image carries it).
	cd dbt_project && ../$(BIN)/dbt parse --target $(TARGET) --profiles-dir .

##@ Test

.PHONY: test
test: setup ## Run the whole test suite against real PostgreSQL, Kafka, DuckLake and dbt.
	$(BIN)/datastack infra up >/dev/null
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: bench
bench: setup ## Benchmarks (prints `name: value` lines; not pass/fail).
	$(BIN)/python -m tests.bench
