# Slipway's two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/slipway/slipway/internal/version.Version=$(VERSION)
BIN := bin
DATA_DIR ?=
SLIPWAY_FLAGS ?=

# Packages whose tests need no real peer: they run first so failures surface early.
UNIT_PKGS := ./api/... ./server/watch/... ./server/pki/... ./server/reconcile/... ./router/haproxycfg/... ./auth/rbac/... ./auth/local/... ./web/... ./internal/... ./builder/webhook/... ./builder/s2i/...
# Fuzz targets (package:target:executions), each run briefly by `make test`:
# about 10 s apiece on 2 cores. A budget in executions, not seconds: Go 1.26's
# coordinator can fail a -fuzztime=10s run with "context deadline exceeded"
# when its deadline races a worker (go.dev/issue/75804), and a new input's
# minimisation (60 s by default) stalled runs at "0/sec" until it did.
FUZZ_TARGETS := ./api:FuzzDecodeObject:150000 ./api/labels:FuzzParse:600000 ./api/mergepatch:FuzzApply:500000 ./server/registry:FuzzParseManifest:40000
FUZZ_SCALE ?= 1 # make fuzz FUZZ_SCALE=30 fuzzes each target for about five minutes

.PHONY: all deps build images web run test lint unit fuzz integration crossbuild bench clean

all: build

deps:
	@scripts/deps.sh

# The console is built with npm and embedded in slipway (go:embed), so it is
# built before the Go binaries; only when its sources changed.
WEB_SOURCES := $(shell find web/src web/index.html web/public web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
web: web/dist/index.html
web/dist/index.html: $(WEB_SOURCES)
	cd web && npm run build

build: web
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slipway ./cmd/slipway
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/slip ./cmd/slip
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/slipway-container-log ./cmd/slipway-container-log
	@$(MAKE) --no-print-directory images

# The S2I builder images, built offline from busybox-static, the Go
# installation and Debian's python3 into bin/images (imported by slipway up
# and slipway node); rebuilt when their recipe changes.
images: $(BIN)/images/s2i-static.oci.tar
$(BIN)/images/s2i-static.oci.tar: $(wildcard builder/images/*.go) $(BIN)/slipway
	$(BIN)/slipway builder-images --go-warm net/http,encoding/json,html/template $(BIN)/images

run: deps build
	$(BIN)/slipway up $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(SLIPWAY_FLAGS)

test: deps web
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint unit fuzz integration crossbuild && \
	echo "make test: all passed in $$(( $$(date +%s) - start ))s"

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 $(UNIT_PKGS)
	cd web && npm test

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		IFS=: read -r pkg fn execs <<< "$$t"; execs=$$((execs * $(FUZZ_SCALE))); \
		echo "fuzz $$pkg $$fn for $$execs executions"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $${execs}x -fuzzminimizetime 100x $$pkg || exit 1; \
	done

# Everything, against the real peers. CI=true turns a missing peer into a failure.
integration:
	$(GO) test -count=1 -p 2 -timeout 30m ./...

# The CLI ships as a single static binary for these platforms.
crossbuild:
	@for p in linux/amd64 linux/arm64 darwin/arm64; do \
		echo "build slip for $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -o /dev/null ./cmd/slip || exit 1; \
	done

# Performance figures; each benchmark prints its own (creates/s, p50/p99).
bench: deps
	@echo "machine: $$(nproc) cores, $$(free -g | awk '/Mem:/{print $$2}') GiB"
	$(GO) test -run '^$$' -bench 'BenchmarkCreate' -benchtime 20000x -timeout 10m ./server/
	$(GO) test -run '^$$' -bench 'BenchmarkWatchDelivery' -benchtime 300x -timeout 10m ./server/
	$(GO) test -run '^$$' -bench 'BenchmarkStoreCreate' -benchtime 20000x -timeout 10m ./server/store/
	$(GO) test -run '^$$' -bench 'BenchmarkAuthenticateToken' -benchtime 200000x -timeout 10m ./auth/authn/
	$(GO) test -run '^$$' -bench 'BenchmarkLogin' -benchtime 200x -timeout 10m ./server/
	$(GO) test -run '^$$' -bench 'BenchmarkAuthorize' -timeout 10m ./auth/rbac/
	$(GO) test -run '^$$' -bench 'BenchmarkBlobPushPull' -benchtime 10x -timeout 10m ./server/registry/
	$(GO) test -run '^$$' -bench 'BenchmarkSchedule' -benchtime 2x -timeout 10m ./server/scheduler/
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 10m ./router/...
	$(GO) test -run '^$$' -bench 'PodStartToServing' -benchtime 1x -timeout 10m ./node/runtime/
	$(GO) test -run '^$$' -bench 'ContainerLog' -benchtime 3x -timeout 10m ./node/runtime/
	$(GO) test -run '^$$' -bench 'NorthboundProgramming' -benchtime 3x -timeout 10m ./sdn/controller/
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 10m ./sdn/node/
	$(GO) test -run '^$$' -bench 'BenchmarkInstantiate|BenchmarkWebhook' -benchtime 200x -timeout 10m ./server/controllers/builds/
	$(GO) test -count=1 -run 'TestUpBuildsFromGit' -v -timeout 10m ./test/e2e/ | grep -E 'push |webhook received|^(ok|FAIL|---)'
	$(GO) test -run '^$$' -bench 'BenchmarkBuild' -benchtime 2x -timeout 30m ./builder/

clean:
	rm -rf $(BIN)
