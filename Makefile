# telemesh: `make run` starts the whole stack, `make test` runs every test.
GO      ?= go
BIN     := bin/telemesh
PKG     := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/telemesh/telemesh/internal/version.Version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: all build run test unit lint bench deps release plugin web clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/telemesh

## run: the whole stack in one process (router, hub, a simulated node, the Grafana bridge).
run: build
	./$(BIN) up

## deps: npm packages the end-to-end tests use (external WAMP clients, browser driver).
deps:
	@for d in $$(git ls-files '*package-lock.json' | xargs -r -n1 dirname); do \
	  echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done

## test: formatting, vet, and every test with the race detector (end-to-end suites included).
test: lint
	$(GO) test -race -count=1 -timeout 30m $(PKG)

unit:
	$(GO) test -short -count=1 $(PKG)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKG)

## bench: Go benchmarks of the router, store and bridge, then telemesh bench self-hosted.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./router/... ./datanodes/... ./grafana-bridge/...
	./$(BIN) bench

clean:
	rm -rf bin dist

## web: rebuild the dashboard bundle committed under consumers/web/dist.
web:
	cd consumers/web && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

## plugin: the Grafana backend datasource plugin in $(PLUGIN_DIST) (plugin.json, module.js,
## gpx_telemesh for linux amd64 and arm64, static: the plugin needs no cgo).
PLUGIN_ARCHS ?= amd64 arm64
PLUGIN_DIST  ?= dist/grafana-plugin
plugin:
	rm -rf $(PLUGIN_DIST) && mkdir -p $(PLUGIN_DIST)
	cp -R grafana-bridge/plugin/dist-src/. $(PLUGIN_DIST)/
	sed -i -e 's/%VERSION%/$(patsubst v%,%,$(VERSION))/' -e "s/%TODAY%/$$(date -u +%Y-%m-%d)/" $(PLUGIN_DIST)/plugin.json
	for arch in $(PLUGIN_ARCHS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags arrow_json_stdlib -ldflags '-s -w' \
	    -o $(PLUGIN_DIST)/gpx_telemesh_linux_$$arch ./cmd/gpx_telemesh || exit 1; \
	done
	chmod 0755 $(PLUGIN_DIST)/gpx_telemesh_linux_*

## release: cgo binaries for Linux amd64 and Raspberry Pi (arm64, armv7) in dist/, with SHA256SUMS.
RELEASE_TARGETS := amd64:amd64::gcc arm64:arm64::aarch64-linux-gnu-gcc armv7:arm:7:arm-linux-gnueabihf-gcc
release:
	@mkdir -p dist
	@set -e; for t in $(RELEASE_TARGETS); do \
	  name=$${t%%:*}; rest=$${t#*:}; arch=$${rest%%:*}; rest=$${rest#*:}; arm=$${rest%%:*}; cc=$${rest#*:}; \
	  echo "building dist/telemesh-linux-$$name (CC=$$cc)"; \
	  CGO_ENABLED=1 GOOS=linux GOARCH=$$arch GOARM=$$arm CC=$$cc \
	    $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/telemesh-linux-$$name ./cmd/telemesh; \
	done
	cd dist && sha256sum telemesh-linux-* > SHA256SUMS
	file dist/telemesh-linux-*
