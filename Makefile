# Safekeep. `make help` lists the targets.
SHELL := /usr/bin/env bash
BIN := $(CURDIR)/bin
GO ?= go
# The e2e tests start etcd, kube-apiserver, VersityGW and Velero; give them room.
TEST_TIMEOUT ?= 35m
TEST_FLAGS ?= -race -count=1 -timeout $(TEST_TIMEOUT)
# What --version says; a release sets VERSION (make release VERSION=v1.2.3).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/safekeep-dev/safekeep/internal/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)
# make release: the CLI for these platforms, into _out/release.
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: help
help: ## List targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Install the Debian packages tests use, build the real test-bed parts (etcd, kube-apiserver, Velero, VersityGW...) into bin/.
	hack/install-deps.sh
	tools/build.sh

.PHONY: build
build: ## Build safekeep and safekeep-controller into bin/.
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: release
release: ## Build the safekeep CLI for Linux and macOS (amd64, arm64) into _out/release, with SHA256SUMS.
	rm -rf _out/release && mkdir -p _out/release
	@for p in $(RELEASE_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; echo "safekeep $(VERSION) $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' \
	    -o _out/release/safekeep-$$os-$$arch ./cmd/safekeep || exit 1; done
	cd _out/release && sha256sum safekeep-* > SHA256SUMS && cat SHA256SUMS

.PHONY: generate
generate: $(BIN)/controller-gen $(BIN)/kubectl ## Regenerate deepcopy code and CRDs from the API types, RBAC from the controller's markers, the Helm chart from deploy/.
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=deploy/crd
	$(BIN)/controller-gen rbac:roleName=safekeep-controller paths=./controller/... output:rbac:artifacts:config=deploy/rbac
	$(GO) run ./hack/chart -kubectl $(BIN)/kubectl -deploy deploy -chart deploy/helm/safekeep

$(BIN)/kubectl:
	tools/build.sh kubectl

$(BIN)/helm:
	tools/build.sh helm

$(BIN)/controller-gen:
	tools/build.sh controller-gen

.PHONY: verify
verify: generate $(BIN)/helm ## Regenerate, then fail on any diff; gofmt, go vet, go mod tidy, helm lint.
	@git diff --exit-code -- api deploy || { echo "generated files are stale: run make generate" >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- api deploy); [ -z "$$untracked" ] || { echo "generated files not committed: $$untracked" >&2; exit 1; }
	$(BIN)/helm lint --strict deploy/helm/safekeep
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed: $$out" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(MAKE) --no-print-directory lint

.PHONY: lint
lint: $(BIN)/golangci-lint ## Run golangci-lint with the linters listed in .golangci.yml.
	$(BIN)/golangci-lint run --allow-parallel-runners ./...

$(BIN)/golangci-lint:
	tools/build.sh golangci-lint

.PHONY: unit
unit: ## Run the tests of pure logic (-short: no etcd, API server, S3 server or Velero); fast, so without -race (make test has it).
	$(GO) test -count=1 -short ./...

.PHONY: test
test: tools verify ## Run every test, end-to-end included, with -race.
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; done; done

# make chaos: SIGKILLs of the controller (e2e TestChaos), every third in a restore
# drill; make test runs 20.
CHAOS_KILLS ?= 100
CHAOS_SEED ?= 1

.PHONY: chaos
chaos: tools ## SIGKILL the controller CHAOS_KILLS times (default 100, seed CHAOS_SEED) at random points of its runs and drills on the real stack; check the invariants after each restart.
	SAFEKEEP_CHAOS_KILLS=$(CHAOS_KILLS) SAFEKEEP_CHAOS_SEED=$(CHAOS_SEED) $(GO) test -race -count=1 -timeout 90m -run '^TestChaos$$' -v ./e2e/

.PHONY: bench
bench: tools ## Seal 1 GiB beside rclone; volume data (as bench-volumes); drill RTO beside a plain Velero restore; audit verify and report over 100,000 entries; encrypt+digest on one core.
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 90m ./bench/...
	$(GO) test -run '^$$' -bench 'EncryptDigest|AgeEncrypt' -benchtime 3x -cpu 1 ./crypto/

.PHONY: bench-volumes
bench-volumes: tools ## Volume data beside kopia and rclone: seal 2 GiB, incremental seal, restore --to-dir and Level 1 verify of 1 GiB (BENCH_ROUNDS, BENCH_VOLUME_MIB).
	$(GO) test -run '^$$' -bench '^BenchmarkVolume' -benchtime 1x -count 1 -timeout 90m ./bench/

.PHONY: demo
demo: tools ## Run the controller on the local test bed: a PHI-like app backed up every minute, sealed offsite; stays up.
	$(GO) run ./hack/demo --keep

.PHONY: demo-down
demo-down: ## Stop a running demo (started by make demo).
	@if [ -f .demo/demo.pid ]; then pid=$$(cat .demo/demo.pid); kill -TERM $$pid 2>/dev/null || true; \
	  for i in $$(seq 60); do kill -0 $$pid 2>/dev/null || break; sleep 0.5; done; echo "demo stopped"; \
	else echo "no demo running"; fi

.PHONY: image
image: ## Build the controller image with no container engine: OCI layout, tarball and SBOM in _out/image (SOURCE_DATE_EPOCH: last commit).
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(GO) run ./hack/image -o _out/image -version $(VERSION) -commit $(COMMIT)

.PHONY: clean
clean: ## Remove build output (keeps bin/ tools).
	rm -rf _out
