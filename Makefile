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
# The dbt manifest the Dagster code location loads; rebuilt only when a file dbt parses changed.
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/dbt_packages \
	-o -path dbt_project/logs \) -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: setup
setup: $(SETUP_STAMP) chart-tools ## Install everything a fresh machine needs (system packages, venv, Kafka jars, DuckDB extensions, chart tools).

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
	$(UV) sync --frozen --all-extras
	$(BIN)/python -c "from services.infra.kafka import fetch_kafka; print('kafka jars:', fetch_kafka())"
	$(BIN)/python -c "import duckdb; from services.lake.connect import ensure_extensions; ensure_extensions(duckdb.connect(), ('ducklake', 'postgres', 'httpfs'))"
	@touch $@

##@ Development

.PHONY: dev
dev: $(SETUP_STAMP) $(MANIFEST) ## Run the stack locally: infra, producers (replay), sink, lake syncer, Dagster (UI :3000). Ctrl-C stops it.
	$(BIN)/datastack dev

.PHONY: infra-up
infra-up: $(SETUP_STAMP) ## Start (or reuse) local PostgreSQL and Kafka; prints `export` lines.
	$(BIN)/datastack infra up

.PHONY: infra-down
infra-down: ## Stop local PostgreSQL and Kafka (data kept in .local/).
	@[ ! -x $(BIN)/datastack ] || $(BIN)/datastack infra down

.PHONY: infra-status
infra-status: ## Show whether the local servers are running.
	$(BIN)/datastack infra status

.PHONY: lint
lint: $(SETUP_STAMP) ## Ruff (lint + format check) and mypy --strict.
	$(BIN)/ruff check services dagster_code tests
	$(BIN)/ruff format --check services dagster_code tests
	$(BIN)/mypy

.PHONY: format
format: $(SETUP_STAMP) ## Apply ruff fixes and formatting.
	$(BIN)/ruff check --fix services dagster_code tests
	$(BIN)/ruff format services dagster_code tests

.PHONY: contract
contract: $(SETUP_STAMP) ## Regenerate the JSON Schemas of the data contract.
	$(BIN)/datastack contract export

##@ dbt

.PHONY: dbt-build
dbt-build: $(SETUP_STAMP) ## dbt build on TARGET=postgres|lake against the local stack (make infra-up; lake needs `datastack sync`).
	eval "$$($(BIN)/datastack infra up)" && cd dbt_project && ../$(BIN)/dbt build --target $(TARGET) --profiles-dir .

.PHONY: dbt-parse
dbt-parse: $(SETUP_STAMP) ## Write dbt_project/target/manifest.json for TARGET (no database needed; the Dagster image carries it).
	cd dbt_project && DBT_TARGET_PATH=target ../$(BIN)/dbt parse --target $(TARGET) --profiles-dir .

# Dagster loads this manifest and never parses dbt itself (no database needed to build it).
$(MANIFEST): $(SETUP_STAMP) $(DBT_SOURCES)
	cd dbt_project && DBT_TARGET_PATH=target ../$(BIN)/dbt parse --target postgres --profiles-dir . --quiet
	@touch $@

##@ Test

.PHONY: test
test: setup $(MANIFEST) ## Run the whole test suite against real PostgreSQL, Kafka, DuckLake and dbt.
	$(BIN)/datastack infra up >/dev/null
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: bench
bench: $(SETUP_STAMP) ## Benchmarks (prints `name: value` lines; not pass/fail).
	$(BIN)/python -m tests.bench

##@ Chart tools

# Chart tools. One already on PATH at a compatible version is used as it is; otherwise the pinned
# version is built from the Go module proxy into bin/ (gitignored). `make dev` never needs them.
HELM_VERSION ?= v3.22.0
HELMFILE_VERSION ?= v1.8.0
HELM_DIFF_VERSION ?= 3.9.14
KUBECONFORM_VERSION ?= v0.8.0
# Go from PATH, else the usual install location (https://go.dev/doc/install).
GO ?= $(or $(shell command -v go 2>/dev/null),$(wildcard /usr/local/go/bin/go),go)
TOOLS := $(CURDIR)/bin
# The Go caches the offline cluster tooling uses too (images/offline/lib.sh): built once, shared.
DATASTACK_CACHE ?= $(HOME)/.cache/datastack
GO_BUILD = GOMODCACHE=$(DATASTACK_CACHE)/go/mod GOCACHE=$(DATASTACK_CACHE)/go/build GOFLAGS=-modcacherw CGO_ENABLED=0 $(GO)
# helmfile would ask GitHub for its latest release on every `version`.
export HELMFILE_UPGRADE_NOTICE_DISABLED := 1
# What the kind targets run: bin/ first, then PATH (tests/charts/tools.py looks the same way).
HELM = $(firstword $(wildcard $(TOOLS)/helm) helm)
HELMFILE = $(firstword $(wildcard $(TOOLS)/helmfile) helmfile)

# $(call chart-tool,NAME,VERSION-ARGS,COMPATIBLE-REGEX,PINNED): keep bin/NAME at the pinned version,
# else use NAME from PATH when its version matches, else build bin/NAME.
define chart-tool
if [ -x $(TOOLS)/$(1) ] && $(TOOLS)/$(1) $(2) 2>/dev/null | grep -qF -- '$(4)'; then \
	echo "$(1): bin/$(1) ($(4))"; \
elif command -v $(1) >/dev/null && $(1) $(2) 2>/dev/null | grep -Eq -- '$(3)'; then \
	echo "$(1): $$(command -v $(1)) ($$($(1) $(2) 2>/dev/null | head -1))"; \
else \
	command -v $(GO) >/dev/null || { echo "$(1) is missing: install $(1) ($(4) or compatible) or Go >= 1.26 so that make can build it into bin/" >&2; exit 1; }; \
	echo ">> building $(1) $(4) into bin/ (minutes on a cold Go cache)"; \
	$(MAKE) --no-print-directory -B $(TOOLS)/$(1); \
fi
endef

.PHONY: chart-tools
chart-tools: ## helm, helmfile, kubeconform for `make test` and `make kind-up`: from PATH if compatible, else built into bin/.
	@$(call chart-tool,helm,version --template '{{.Version}}',^v3\.(1[89]|[2-9][0-9])\.,$(HELM_VERSION))
	@$(call chart-tool,helmfile,version -o short,^v1\.,$(HELMFILE_VERSION))
	@$(call chart-tool,kubeconform,-v,^v0\.([6-9]|[1-9][0-9])\.,$(KUBECONFORM_VERSION))

# The version ldflags of helm's own release build: without them `helm version` says v3.22 and
# `helm template` assumes Kubernetes 1.20 (helm 3.22 is built against the 1.37 client libraries).
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach pkg,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(pkg).k8sVersionMinor=37)
$(TOOLS)/helm:
	GOBIN=$(TOOLS) $(GO_BUILD) install -trimpath -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TOOLS)/kubeconform:
	GOBIN=$(TOOLS) $(GO_BUILD) install -trimpath \
		-ldflags "-X main.version=$(KUBECONFORM_VERSION)" github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

# helmfile's and helm-diff's go.mod carry replace directives (or are missing from the checksum
# database), which `go install pkg@version` refuses: build inside a writable copy of the module.
# $(call go-build-module,MODULE@VERSION,OUTPUT,LDFLAGS)
define go-build-module
src=$$($(GO_BUILD) mod download -json $(1) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
[ -n "$$src" ] || { echo "cannot download $(1) from the Go module proxy" >&2; exit 1; }; \
work=$$(mktemp -d); trap 'chmod -R u+w "$$work"; rm -rf "$$work"' EXIT; \
cp -r "$$src/." "$$work" && chmod -R u+w "$$work" && \
cd "$$work" && $(GO_BUILD) build -trimpath -ldflags "$(3)" -o $(2) .
endef

$(TOOLS)/helmfile:
	@mkdir -p $(TOOLS)
	$(call go-build-module,github.com/helmfile/helmfile@$(HELMFILE_VERSION),$@,-X go.szostok.io/version.version=$(HELMFILE_VERSION))

# helm-diff (`helmfile apply` needs it): the user's helm plugin when there is one, else built into a
# plugin folder of our own (bin/helm-plugins), so the user's helm plugins are left alone.
HELM_PLUGINS_DIR := $(TOOLS)/helm-plugins
HELM_DIFF_ENV = $(if $(wildcard $(HELM_PLUGINS_DIR)/helm-diff/bin/diff),HELM_PLUGINS=$(HELM_PLUGINS_DIR))

.PHONY: helm-diff
helm-diff: chart-tools
	@if [ -x $(HELM_PLUGINS_DIR)/helm-diff/bin/diff ]; then echo "helm-diff: bin/helm-plugins ($(HELM_DIFF_VERSION))"; \
	elif $(HELM) plugin list 2>/dev/null | grep -q '^diff'; then echo "helm-diff: $$($(HELM) plugin list | grep '^diff')"; \
	else echo ">> building helm-diff $(HELM_DIFF_VERSION) into bin/helm-plugins"; $(MAKE) --no-print-directory $(HELM_PLUGINS_DIR)/helm-diff/bin/diff; fi

$(HELM_PLUGINS_DIR)/helm-diff/bin/diff:
	@mkdir -p $(@D)
	export GONOSUMDB=github.com/databus23/helm-diff; $(call go-build-module,github.com/databus23/helm-diff/v3@v$(HELM_DIFF_VERSION),$@,-X github.com/databus23/helm-diff/v3/cmd.Version=$(HELM_DIFF_VERSION))
	printf 'name: "diff"\nversion: "%s"\nusage: "Preview helm upgrade changes as a diff"\ndescription: "helm-diff built from source by make"\nuseTunnel: true\ncommand: "$$HELM_PLUGIN_DIR/bin/diff"\n' \
		'$(HELM_DIFF_VERSION)' > $(HELM_PLUGINS_DIR)/helm-diff/plugin.yaml

##@ Kubernetes

# The kind path: `make kind-up` (cluster, images, helmfile, wait), `make ui`, `make logs`,
# `make kind-down`. OFFLINE=1 is the path without a registry or chart repository (CI's, and any
# machine without internet): images/offline/cluster.sh brings up the cluster from a node image built
# here (starting a private Docker engine when none answers) and prints the KUBECONFIG/DOCKER_HOST/PATH
# to use; our images build on a Debian-packaged Python base; the ci environment's stand-ins (Kafka,
# PostgreSQL, Dagster; charts/README.md) are built and loaded too; `helmfile -e ci sync` deploys.
KIND_CLUSTER ?= datastack
K8S_NAMESPACE ?= datastack
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml | head -1)
SERVICES_IMAGE ?= datastack/services:$(IMAGE_TAG)
DAGSTER_IMAGE ?= datastack/dagster:$(IMAGE_TAG)
DOCKER_BUILD_FLAGS ?= --network host
# A CA bundle for pip/uv inside the build (behind a TLS-intercepting proxy): passed as a BuildKit
# secret, never stored in a layer (images/services/with-ca.sh). Defaults to $SSL_CERT_FILE.
CA_BUNDLE ?= $(SSL_CERT_FILE)
comma := ,
CA_SECRET = $(if $(CA_BUNDLE),--secret id=ca_bundle$(comma)src=$(CA_BUNDLE))
KIND_VOLUMES := .local/kind/volumes
KIND_KUBECONFIG := .local/kind/kubeconfig
KUBE_WAIT_S ?= 900
OFFLINE ?=
ifeq ($(OFFLINE),1)
# cluster.sh builds (once) and puts on PATH what it needs: kind, kubectl, a Docker engine, and the
# Debian-packaged Python base image (images/base) our images then build on. Its output is captured
# first: `eval "$$(failing command)"` would succeed with nothing to eval.
BASE_IMAGE ?= datastack/python:3.11-bookworm
HELMFILE_ENV ?= ci
CLUSTER_UP = exports="$$(images/offline/cluster.sh up --name $(KIND_CLUSTER) --config kind-config.yaml)" && eval "$$exports"
CLUSTER_ENV = exports="$$(images/offline/cluster.sh env --name $(KIND_CLUSTER))" && eval "$$exports"
CLUSTER_DOWN = images/offline/cluster.sh down --name $(KIND_CLUSTER)
CLUSTER_TOOLS :=
# The stand-in images of the ci environment (images/ci), built once and loaded with ours.
EXTRA_IMAGES = images/offline/ci-images.sh all && extra_images="$$(images/offline/ci-images.sh names)"
# sync, not apply: apply first diffs every release, and the diff of our Strimzi and CloudNativePG
# resources fails before the release that installs their CRDs ran. --skip-deps: no repositories.
HELMFILE_DEPLOY = sync --skip-deps
KIND_UP_PREREQS := chart-tools
# The private engine's images live in the offline cache: a rebuild drops the image it replaced
# (untagged, unused), so the warm cache does not grow by ~1.3 GB per code change.
PRUNE_REPLACED_IMAGES := 1
else
BASE_IMAGE ?= python:3.11-slim-bookworm
HELMFILE_ENV ?= local
# Every command of kind-up, ui and logs (helmfile's hooks included) reads this kubeconfig, which
# holds only the kind cluster: nothing lands on another cluster whatever the current context.
CLUSTER_UP = { kind get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) \
	|| kind create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 120s; } \
	&& kind get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG) && $(CLUSTER_ENV)
CLUSTER_ENV = export KUBECONFIG=$(CURDIR)/$(KIND_KUBECONFIG)
CLUSTER_DOWN = kind delete cluster --name $(KIND_CLUSTER) && rm -f $(KIND_KUBECONFIG)
CLUSTER_TOOLS := docker kind kubectl
EXTRA_IMAGES = extra_images=""
HELMFILE_DEPLOY = apply --suppress-diff
KIND_UP_PREREQS := chart-tools helm-diff
endif
KUBECTL = kubectl -n $(K8S_NAMESPACE)

# $(call require-tools,TOOL...): stop with one message naming each missing tool and where to get it.
define require-tools
missing=""; for t in $(1); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
if [ -n "$$missing" ]; then \
	echo "missing:$$missing" >&2; \
	for t in $$missing; do case $$t in \
		docker) echo "  docker:  install Docker Engine and start it (https://docs.docker.com/engine/install/)" >&2 ;; \
		kind) echo "  kind:    go install sigs.k8s.io/kind@v0.33.0, or https://kind.sigs.k8s.io/docs/user/quick-start/#installation" >&2 ;; \
		kubectl) echo "  kubectl: https://kubernetes.io/docs/tasks/tools/ (any version within one minor of the cluster)" >&2 ;; \
		*) echo "  $$t: make chart-tools builds it into bin/ (needs Go)" >&2 ;; \
	esac; done; exit 1; \
fi
endef

# What to look at when the stack does not come up (a CI log is all there is afterwards): the pods,
# the latest events, and the state and logs of every pod that is not Ready.
define kube-diagnostics
echo ">> diagnostics: namespace $(K8S_NAMESPACE)" >&2; \
$(KUBECTL) get pods -o wide >&2 || true; \
$(KUBECTL) get events --sort-by=.lastTimestamp 2>&1 | tail -40 >&2 || true; \
for pod in $$($(KUBECTL) get pods -l '!dagster/run-id' --no-headers 2>/dev/null \
		| awk '$$3 != "Completed" { split($$2, r, "/"); if ($$3 != "Running" || r[1] != r[2]) print $$1 }'); do \
	echo ">> kubectl describe pod $$pod (conditions, state, events)" >&2; \
	$(KUBECTL) describe pod $$pod 2>&1 | sed -n '/^Conditions:/,$$p' >&2 || true; \
	echo ">> kubectl logs $$pod --all-containers --tail=60" >&2; \
	$(KUBECTL) logs $$pod --all-containers --tail=60 >&2 || true; \
done
endef

define build-images
docker info >/dev/null 2>&1 || { echo "docker: no Docker engine answers (start it, or OFFLINE=1 make kind-up)" >&2; exit 1; }; \
for image in services dagster; do \
	tag=$$([ $$image = services ] && echo $(SERVICES_IMAGE) || echo $(DAGSTER_IMAGE)); \
	echo ">> [$${SECONDS:-0} s] docker build $$tag (images/$$image/Dockerfile, BASE_IMAGE=$(BASE_IMAGE))"; \
	old=$$(docker image inspect -f '{{.Id}}' $$tag 2>/dev/null || true); \
	DOCKER_BUILDKIT=1 docker build $(DOCKER_BUILD_FLAGS) $(CA_SECRET) --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		-f images/$$image/Dockerfile -t $$tag . || exit 1; \
	$(if $(PRUNE_REPLACED_IMAGES),[ -z "$$old" ] || [ "$$(docker image inspect -f '{{len .RepoTags}}' $$old 2>/dev/null)" != 0 ] \
		|| docker image rm $$old >/dev/null 2>&1 || true;) \
done
endef

.PHONY: images
images: ## Build the datastack/services and datastack/dagster images (BASE_IMAGE=... for another base).
	@$(call require-tools,docker)
	@$(build-images)

.PHONY: kind-up
kind-up: $(KIND_UP_PREREQS) ## Cluster from kind-config.yaml, images built and loaded, helmfile apply, wait until Ready (OFFLINE=1: all built here).
	@$(call require-tools,$(CLUSTER_TOOLS))
	@mkdir -p $(KIND_VOLUMES)
	@SECONDS=0; echo ">> cluster $(KIND_CLUSTER)"; $(CLUSTER_UP); \
	$(build-images); \
	$(EXTRA_IMAGES); \
	echo ">> [$$SECONDS s] kind load docker-image $(SERVICES_IMAGE) $(DAGSTER_IMAGE) $$extra_images"; \
	kind load docker-image --name $(KIND_CLUSTER) $(SERVICES_IMAGE) $(DAGSTER_IMAGE) $$extra_images; \
	echo ">> [$$SECONDS s] helmfile -e $(HELMFILE_ENV) $(HELMFILE_DEPLOY)"; \
	$(HELM_DIFF_ENV) $(HELMFILE) --helm-binary $(HELM) -e $(HELMFILE_ENV) $(HELMFILE_DEPLOY) \
		|| { $(kube-diagnostics); exit 1; }; \
	echo ">> [$$SECONDS s] waiting for every pod in $(K8S_NAMESPACE) to be Ready (up to $(KUBE_WAIT_S) s; Dagster's run pods come and go)"; \
	deadline=$$(( $$(date +%s) + $(KUBE_WAIT_S) )); \
	while :; do \
		pending=$$($(KUBECTL) get pods -l '!dagster/run-id' --no-headers 2>/dev/null \
			| awk '$$3 != "Completed" { split($$2, r, "/"); if ($$3 != "Running" || r[1] != r[2]) print $$1 "(" $$3 " " $$2 ")" }' \
			|| echo "(the API server does not answer yet)"); \
		[ -n "$$pending" ] || break; \
		[ $$(date +%s) -lt $$deadline ] || { echo "not Ready after $(KUBE_WAIT_S) s:" $$pending >&2; \
			$(kube-diagnostics); echo "see charts/README.md (debugging) and: make logs SERVICE=<name>" >&2; exit 1; }; \
		echo "   $$(date +%T) waiting for:" $$pending; sleep 10; \
	done; \
	echo ">> [$$SECONDS s] every pod is Ready"
	@echo ""
	@echo "datastack is up in kind cluster '$(KIND_CLUSTER)', namespace $(K8S_NAMESPACE)."
	@echo "  make ui$(if $(OFFLINE), OFFLINE=1)            Dagster on http://localhost:3000, Kafka UI on http://localhost:8080"
	@echo "  make logs$(if $(OFFLINE), OFFLINE=1) SERVICE=sink   a service's JSON logs (producer-crypto, producer-github, producer-weather, sink, syncer)"
	@echo "  make kind-down$(if $(OFFLINE), OFFLINE=1)      delete the cluster (the lake's files stay in $(KIND_VOLUMES))"

.PHONY: kind-down
kind-down: ## Delete the kind cluster (the lake's files stay in .local/kind/volumes; OFFLINE=1 also stops the private engine).
	@$(call require-tools,$(filter kind,$(CLUSTER_TOOLS)))
	$(CLUSTER_DOWN)

.PHONY: ui
ui: ## Port-forward Dagster (http://localhost:3000) and Kafka UI (http://localhost:8080); Ctrl-C stops both.
	@$(CLUSTER_ENV); $(call require-tools,kubectl)
	@$(CLUSTER_ENV); $(KUBECTL) port-forward svc/dagster-dagster-webserver 3000:3000 & dagster=$$!; \
	kafka_ui=""; echo "Dagster   http://localhost:3000"; \
	if $(KUBECTL) get svc kafka-ui >/dev/null 2>&1; then \
		$(KUBECTL) port-forward svc/kafka-ui 8080:8080 & kafka_ui=$$!; echo "Kafka UI  http://localhost:8080"; \
	else echo "Kafka UI  not installed (helmfile's ci environment has none)"; fi; \
	trap 'kill $$dagster $$kafka_ui 2>/dev/null' EXIT INT TERM; wait

.PHONY: logs
logs: ## Follow a service's JSON logs: make logs SERVICE=sink (or producer-crypto, syncer, ...).
	@$(CLUSTER_ENV); $(call require-tools,kubectl)
	@$(CLUSTER_ENV); [ -n "$(SERVICE)" ] || { echo "usage: make logs SERVICE=<deployment>; deployments:" >&2; \
		$(KUBECTL) get deploy -o name >&2; exit 2; }
	@$(CLUSTER_ENV); $(KUBECTL) logs -f --tail=200 --all-containers deploy/$(SERVICE)

# The real-cluster tests (tests/cluster): they run `make kind-up OFFLINE=1` and `make kind-down
# OFFLINE=1` themselves on a cluster of their own, so they never touch yours. Not part of `make test`
# (tests/cluster collects nothing without DATASTACK_CLUSTER_TESTS=1).
TEST_CLUSTER ?= datastack-ci
.PHONY: test-cluster
test-cluster: setup ## Real cluster, offline: kind-up OFFLINE=1, data end to end, a Dagster run as a Job, kind-down; host left as found.
	DATASTACK_CLUSTER_TESTS=1 TEST_CLUSTER=$(TEST_CLUSTER) $(BIN)/pytest tests/cluster -p no:randomly -s $(PYTEST_ARGS)
