# slowspan: build, run and test the otelcol-slowspan collector.
#
#   make run     build the collector and start it with collector-config.yaml
#   make demo    the collector, a demo app, a fake Mattermost and a little traffic:
#                a report and a post within a minute (Ctrl-C stops it all)
#   make test    everything CI checks (.ci/run calls it)
#
# Needs only Go (see go.mod) on the PATH; `make deps` adds the system packages
# the checks need (a C compiler for -race, Node for the Markdown check) and the
# npm packages, and `make tools` the pinned builder and golangci-lint.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go

BUILDER_VERSION := v0.165.0
BUILDER_PKG     := go.opentelemetry.io/collector/cmd/builder
TOOLS_DIR       := $(CURDIR)/.tools
BUILDER         := $(TOOLS_DIR)/builder

# golangci-lint is compiled from source from the module proxy (config: .golangci.yml).
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT_PKG     := github.com/golangci/golangci-lint/v2/cmd/golangci-lint
GOLANGCI_LINT_MOD     := github.com/golangci/golangci-lint/v2
GOLANGCI_LINT         := $(TOOLS_DIR)/golangci-lint

COLLECTOR := $(abspath build/otelcol-slowspan/otelcol-slowspan)
# service.profilesSupport exists in this build (check: `$(COLLECTOR) featuregate`);
# the profiles pipeline that needs it comes later.
RUN_FLAGS ?= --feature-gates=service.profilesSupport

# Go files we own: everything except the generated collector sources and tools.
GOFILES = $(shell find . \( -path ./build -o -path ./bench/build -o -path ./.tools -o -path ./.git -o -name node_modules \) -prune \
            -o -type f -name '*.go' -print)

.PHONY: all deps tools tool-builder tool-golangci-lint build run demo test unit integration lint fmt-check vet golangci-lint bench clean

all: test

# ---------------------------------------------------------------------------
# deps: system and language packages beyond Go.
# Later issues add their packages HERE:
#   APT_PACKAGES  Debian packages (installed with apt-get when missing; CI runs as root)
#   npm           add an `npm ci --prefix <dir>` line below for each Node app (lockfiles committed)
# ---------------------------------------------------------------------------
APT_PACKAGES := ca-certificates gcc libc6-dev redis-server chromium fonts-liberation

deps:
	@missing=""; \
	if command -v dpkg-query >/dev/null 2>&1; then \
	  for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	  done; \
	fi; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "deps: installing$$missing"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Node.js and npm for the Node test app and the Markdown check, when the machine has none
	@# (Debian's nodejs 18 is new enough for its lockfile)
	@if ! command -v npm >/dev/null 2>&1; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "deps: installing nodejs npm"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi
	@# npm packages of the Node test app, from its committed lockfile
	@if [ ! -d integration/apps/nodeapp/node_modules ] || [ integration/apps/nodeapp/package-lock.json -nt integration/apps/nodeapp/node_modules ]; then \
	  npm ci --prefix integration/apps/nodeapp --no-audit --no-fund; \
	fi
	@# Mattermost's Markdown parser (@mattermost/commonmark), which the Go tests
	@# render every post with (internal/postcheck), from its committed lockfile;
	@# nothing in it needs an install script
	@if [ ! -d internal/postcheck/js/node_modules ] || [ internal/postcheck/js/package-lock.json -nt internal/postcheck/js/node_modules ]; then \
	  npm ci --prefix internal/postcheck/js --no-audit --no-fund --ignore-scripts; \
	fi

# tools: the pinned collector builder (ocb) and golangci-lint in .tools/, each
# reinstalled when `go version -m` shows a different version.
tools: tool-builder tool-golangci-lint

tool-builder:
	@if ! $(GO) version -m $(BUILDER) 2>/dev/null | grep -Eq '^[[:space:]]+mod[[:space:]]+$(BUILDER_PKG)[[:space:]]+$(BUILDER_VERSION)([[:space:]]|$$)'; then \
	  echo "tools: installing $(BUILDER_PKG)@$(BUILDER_VERSION) into $(TOOLS_DIR)"; \
	  GOBIN=$(TOOLS_DIR) $(GO) install $(BUILDER_PKG)@$(BUILDER_VERSION); \
	fi

tool-golangci-lint:
	@if ! $(GO) version -m $(GOLANGCI_LINT) 2>/dev/null | grep -Eq '^[[:space:]]+mod[[:space:]]+$(GOLANGCI_LINT_MOD)[[:space:]]+$(GOLANGCI_LINT_VERSION)([[:space:]]|$$)'; then \
	  echo "tools: installing $(GOLANGCI_LINT_PKG)@$(GOLANGCI_LINT_VERSION) into $(TOOLS_DIR)"; \
	  GOBIN=$(TOOLS_DIR) $(GO) install $(GOLANGCI_LINT_PKG)@$(GOLANGCI_LINT_VERSION); \
	fi

# build: always runs the builder (a warm rebuild takes a few seconds, and Go's
# build cache decides what really needs compiling, so nothing stale survives).
# -buildvcs=false: the binary's version comes from the manifest, and VCS stamping
# would fail the build when git refuses the checkout (e.g. owned by another user).
build: tool-builder
	@mkdir -p build
	GOFLAGS="-buildvcs=false $(GOFLAGS)" $(BUILDER) --config=builder-config.yaml

# run: with SLOWSPAN_MATTERMOST_ENDPOINT set, collector-config.mattermost.yaml
# is merged in and alerts also go to Mattermost (see README.md).
RUN_CONFIGS = --config collector-config.yaml $(if $(SLOWSPAN_MATTERMOST_ENDPOINT),--config collector-config.mattermost.yaml)

run: build
	@mkdir -p data alerts
	$(COLLECTOR) $(RUN_CONFIGS) $(RUN_FLAGS)

# demo: the collector (make build), the Go test app (integration/apps/goapp:
# otelhttp + spanprofiler, slow routes), the fake Mattermost (cmd/fakemattermost)
# and a little traffic, run by cmd/demo, which prints where the reports, the
# alerts and the posts are and runs until Ctrl-C, stopping all it started.
# State, logs and binaries in $(DEMO_DIR) (wiped at each run but bin/), a 500 ms
# threshold and a 1 minute dedup window. DEMO_EXIT=1 exits once the alerts and
# posts are there. Uses the ports of collector-config.yaml (4317, 4318, 8888),
# 8080 (the app) and 8065 (the fake): stop `make run` first.
DEMO_DIR ?= demo-data
DEMO_FLAGS ?=

demo: build
	@mkdir -p $(DEMO_DIR)/bin
	GOFLAGS="-buildvcs=false $(GOFLAGS)" $(GO) build -o $(DEMO_DIR)/bin/ ./cmd/demo ./cmd/fakemattermost ./integration/apps/goapp
	$(DEMO_DIR)/bin/demo -collector $(COLLECTOR) -dir $(DEMO_DIR) -bin $(DEMO_DIR)/bin $(if $(DEMO_EXIT),-exit) $(DEMO_FLAGS)

# test: lint, then build the collector, then every package's tests with the
# race detector, the root module's and then spanprofiler's (its own module, so
# ./... skips it). ./... includes ./integration, which runs the freshly built
# collector (SLOWSPAN_COLLECTOR); its tests stat the binary, so Go's test cache
# reruns them whenever the collector changes.
test: deps lint build bench-equivalence
	SLOWSPAN_COLLECTOR=$(COLLECTOR) $(GO) test -race ./...
	cd spanprofiler && $(GO) test -race ./...

# unit: every package of both modules with -race (the integration package builds the collector itself if needed).
unit: deps
	$(GO) test -race ./...
	cd spanprofiler && $(GO) test -race ./...

# integration: only the end-to-end tests, uncached, against a fresh build.
integration: build
	SLOWSPAN_COLLECTOR=$(COLLECTOR) $(GO) test -count=1 ./integration/...

# lint: gofmt, go vet and golangci-lint (.golangci.yml) on the root module and
# on the nested bench/ module, which uses the same config.
lint: fmt-check vet golangci-lint

fmt-check:
	@out="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd spanprofiler && $(GO) vet ./...
	cd bench && $(GO) vet ./...

# Both modules are linted even when the first has findings, so one run lists them all.
golangci-lint: tool-golangci-lint
	@rc=0; \
	echo "golangci-lint: root module"; \
	$(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./... || rc=1; \
	echo "golangci-lint: bench/"; \
	(cd bench && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || rc=1; \
	echo "golangci-lint: spanprofiler/"; \
	(cd spanprofiler && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || rc=1; \
	exit $$rc

# bench: in-process benchmarks (a few minutes): the root module's, spanprofiler's
# (its own module, which `./...` skips), then bench/
# (its own module: contrib filterprocessor resolves only at v0.161.0), whose
# benchreport runs the side-by-side and growth benchmarks interleaved and
# prints medians and ratios. Numbers and goals: BENCHMARKS.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	cd spanprofiler && $(GO) test -run='^$$' -bench=. -benchmem ./...
	cd bench && $(GO) run ./cmd/benchreport -rounds 5

.PHONY: bench-e2e bench-equivalence

# bench-e2e: whole collectors under the same OTLP load (about 12 minutes):
# otelcol-slowspan and a contrib-only build from bench/builder-contrib.yaml.
BENCH_CONTRIB := bench/build/otelcol-contrib-bench/otelcol-contrib-bench
bench-e2e: build
	@# the builder creates its output directory but not its parents
	mkdir -p bench/build
	cd bench && GOFLAGS="-buildvcs=false $(GOFLAGS)" $(BUILDER) --config=builder-contrib.yaml
	cd bench && $(GO) run ./cmd/e2e -slowspan $(COLLECTOR) -contrib $(abspath $(BENCH_CONTRIB))

# bench-equivalence: vet bench/ and prove every compared setup keeps the same
# spans (seconds; bench/ is a nested module that `go test ./...` skips).
bench-equivalence:
	cd bench && $(GO) vet ./... && $(GO) test -race -run Equivalence .

clean:
	rm -rf build
	$(GO) clean -testcache
