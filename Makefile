# telemesh: `make run` starts the whole stack, `make test` runs every test.
GO      ?= go
BIN     := bin/telemesh
PKG     := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/telemesh/telemesh/internal/version.Version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: all build node-build run test test-frontend unit lint bench fuzz deps release release-check plugin plugin-zip frontend web clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/telemesh

## node-build: bin/node/telemesh, a data node's own build: the node, consumer
## and small commands with every driver, without the router, hub, bridge,
## archiver and bench (about half the size, for the small computers nodes run on).
## codec.notfastpath drops the WAMP codec's generated per-type fast paths
## (4.5 MB of code a node maps; its encoding of get_data answers is within
## 10 % without them) and urfave_cli_no_docs the CLI's man page writer.
NODE_TAGS := custom,commands.node,drivers.exec,drivers.file,drivers.hwmon,drivers.mqtt,drivers.periph,drivers.sim,drivers.wampfeed,codec.notfastpath,urfave_cli_no_docs
node-build:
	$(GO) build -trimpath -tags '$(NODE_TAGS)' -ldflags '$(LDFLAGS)' -o bin/node/telemesh ./cmd/telemesh

## run: the whole stack in one process (router, hub, a simulated node, the Grafana bridge).
run: build
	./$(BIN) up

## deps: npm packages the end-to-end tests use (external WAMP clients, browser driver).
deps:
	@for d in $$(git ls-files '*package-lock.json' | xargs -r -n1 dirname); do \
	  echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done

## test: formatting, vet, and every test with the race detector (end-to-end suites included).
## Outside CI, suites whose external tools are missing skip; the summary at
## the end says which, and how to install what they need.
SKIPLOG := $(CURDIR)/bin/skipped-tests.txt
test: lint test-frontend
	@mkdir -p bin && rm -f $(SKIPLOG)
	@TELEMESH_SKIPLOG=$(SKIPLOG) $(GO) test -race -count=1 -timeout 30m $(PKG); rc=$$?; \
	if [ -s $(SKIPLOG) ]; then \
	  echo; echo "== $$(wc -l < $(SKIPLOG)) end-to-end tests skipped: their tools are missing (CI runs them all)"; \
	  sort $(SKIPLOG) | sed 's/^/   /'; \
	  echo "   to run them: sudo apt-get install python3-autobahn python3-cbor2 mosquitto chromium nodejs npm; make deps"; \
	fi; exit $$rc

## test-frontend: the plugin frontend's jest unit tests (after make deps).
test-frontend:
	@if [ -d $(PLUGIN_SRC)/node_modules ]; then cd $(PLUGIN_SRC) && npm run --silent test:ci; \
	elif [ -n "$$CI" ]; then echo "test-frontend: run make deps first"; exit 1; \
	else echo "SKIP test-frontend: no $(PLUGIN_SRC)/node_modules (run make deps)"; fi

unit:
	$(GO) test -short -count=1 $(PKG)

## fuzz: every Go fuzz target of the tree for FUZZTIME each (their seed corpora in
## testdata/fuzz also run as plain tests in `make test`); FUZZPARALLEL workers.
## Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
## exceeded" as the fuzz time ends, having found nothing (go.dev/issue/75804,
## fixed in Go 1.27): such a run, which wrote no failing input, is run once
## more; a failing input written to testdata/fuzz always fails.
FUZZTIME     ?= 10s
FUZZPARALLEL ?= 1
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for d in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$d/*_test.go | cut -d' ' -f2); do \
	    for try in 1 2; do \
	      echo "fuzz ./$$d $$f for $(FUZZTIME)"; \
	      before=$$(ls $$d/testdata/fuzz/$$f 2>/dev/null | wc -l); rc=0; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) ./$$d >"$$log" 2>&1 || rc=$$?; \
	      cat "$$log"; \
	      [ $$rc = 0 ] && break; \
	      after=$$(ls $$d/testdata/fuzz/$$f 2>/dev/null | wc -l); \
	      if [ $$try = 1 ] && [ "$$after" = "$$before" ] && grep -qx '    context deadline exceeded' "$$log"; then \
	        echo "fuzz: $$f stopped on the fuzz coordinator's deadline race with no failing input written; once more"; continue; \
	      fi; \
	      exit 1; \
	    done; \
	  done; \
	done

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

## frontend: rebuild the plugin frontend (create-plugin webpack) committed as
## grafana-bridge/plugin/dist/module.js and its source map.
PLUGIN_SRC := grafana-bridge/plugin
frontend:
	cd $(PLUGIN_SRC) && npm ci --no-audit --no-fund --loglevel=error && npm run build

## plugin: the Grafana datasource plugin in $(PLUGIN_DIST): plugin.json, the
## committed frontend with its source map, README, CHANGELOG, LICENSE, the Go
## build manifest and static backends for the SDK's targets plus linux/arm
## (armv7). Versions: the tag vX.Y.Z gives X.Y.Z (package.json must agree);
## anything else is a pre-release of package.json's version.
PLUGIN_ID      := telemesh-wamp-datasource
PLUGIN_TARGETS ?= linux/amd64 linux/arm64 linux/arm darwin/amd64 darwin/arm64 windows/amd64
PLUGIN_DIST    ?= dist/grafana-plugin
PLUGIN_BASE    := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' $(PLUGIN_SRC)/package.json)
PLUGIN_VERSION ?= $(shell v='$(patsubst v%,%,$(VERSION))'; \
  if echo "$$v" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$'; then echo "$$v"; \
  else echo "$(PLUGIN_BASE)-dev+$$(echo "$$v" | tr -c '0-9A-Za-z\n' '.')"; fi)
PLUGIN_ZIP     ?= dist/$(PLUGIN_ID)-$(PLUGIN_VERSION).zip
PLUGIN_BUILDINFO := {"time":$(shell date -u +%s)000,"pluginID":"$(PLUGIN_ID)","version":"$(PLUGIN_VERSION)"}
plugin:
	@if echo '$(PLUGIN_VERSION)' | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$$' && [ '$(PLUGIN_VERSION)' != '$(PLUGIN_BASE)' ]; then \
	  echo "release $(PLUGIN_VERSION) but $(PLUGIN_SRC)/package.json says $(PLUGIN_BASE)"; exit 1; fi
	rm -rf $(PLUGIN_DIST) && mkdir -p $(PLUGIN_DIST)/img
	sed -e 's/%VERSION%/$(PLUGIN_VERSION)/' -e "s/%TODAY%/$$(date -u +%Y-%m-%d)/" $(PLUGIN_SRC)/src/plugin.json > $(PLUGIN_DIST)/plugin.json
	cp $(PLUGIN_SRC)/dist/module.js $(PLUGIN_SRC)/dist/module.js.map $(PLUGIN_SRC)/src/README.md \
	  $(PLUGIN_SRC)/CHANGELOG.md $(PLUGIN_SRC)/LICENSE $(PLUGIN_DIST)/
	cp $(PLUGIN_SRC)/src/img/* $(PLUGIN_DIST)/img/
	cd $(PLUGIN_SRC) && find . -name node_modules -prune -o -name '*.go' -type f -print | sed 's|^\./||' | LC_ALL=C sort | \
	  while read -r f; do echo "$$(sha256sum "$$f" | cut -d' ' -f1):$$f"; done > $(CURDIR)/$(PLUGIN_DIST)/go_plugin_build_manifest
	for t in $(PLUGIN_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "building gpx_telemesh_$${os}_$$arch$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=7 $(GO) build -trimpath -tags arrow_json_stdlib \
	    -ldflags '-w -s -X '"'"'github.com/grafana/grafana-plugin-sdk-go/build/buildinfo.buildInfoJSON=$(PLUGIN_BUILDINFO)'"'"'' \
	    -o $(PLUGIN_DIST)/gpx_telemesh_$${os}_$$arch$$ext ./cmd/gpx_telemesh || exit 1; \
	done
	chmod 0755 $(PLUGIN_DIST)/gpx_telemesh_*

## plugin-zip: $(PLUGIN_ZIP), the package to sign and publish (one folder named
## after the plugin id).
plugin-zip: plugin
	rm -rf dist/zip && mkdir -p dist/zip && cp -a $(PLUGIN_DIST) dist/zip/$(PLUGIN_ID)
	rm -f $(PLUGIN_ZIP) && cd dist/zip && zip -qr $(CURDIR)/$(PLUGIN_ZIP) $(PLUGIN_ID)
	rm -rf dist/zip
	@echo $(PLUGIN_ZIP)

## release: fully static cgo binaries (no glibc version floor, so they run on any
## Linux, Raspberry Pi OS Bullseye included) for amd64 (musl), arm64 and armv7
## (glibc cross compilers linked statically), in dist/ with SHA256SUMS; beside
## each, telemesh-node-linux-ARCH, a data node's own build (NODE_TAGS).
## osusergo and netgo keep user and DNS lookups in Go (no NSS), and
## sqlite_omit_load_extension drops SQLite's dlopen.
RELEASE_TARGETS := amd64:amd64::musl-gcc arm64:arm64::aarch64-linux-gnu-gcc armv7:arm:7:arm-linux-gnueabihf-gcc
RELEASE_TAGS    := osusergo,netgo,sqlite_omit_load_extension
RELEASE_LDFLAGS := $(LDFLAGS) -linkmode external -extldflags '-static'
release:
	@mkdir -p dist
	@set -e; for t in $(RELEASE_TARGETS); do \
	  name=$${t%%:*}; rest=$${t#*:}; arch=$${rest%%:*}; rest=$${rest#*:}; arm=$${rest%%:*}; cc=$${rest#*:}; \
	  for kind in telemesh:$(RELEASE_TAGS) telemesh-node:$(RELEASE_TAGS),$(NODE_TAGS); do \
	    out=dist/$${kind%%:*}-linux-$$name; \
	    echo "building $$out (CC=$$cc, static)"; \
	    CGO_ENABLED=1 GOOS=linux GOARCH=$$arch GOARM=$$arm CC=$$cc \
	      $(GO) build -trimpath -tags $${kind#*:} -ldflags "$(RELEASE_LDFLAGS)" -o $$out ./cmd/telemesh; \
	  done; \
	done
	cd dist && sha256sum telemesh-linux-* telemesh-node-linux-* > SHA256SUMS
	file dist/telemesh-linux-* dist/telemesh-node-linux-*

## release-check: every release binary is statically linked and runs (under
## qemu-user for the Arm ones): telemesh version.
release-check:
	@set -e; for b in amd64: arm64:qemu-aarch64 armv7:qemu-arm; do for kind in telemesh telemesh-node; do \
	  name=$${b%%:*}; emu=$${b#*:}; f=dist/$$kind-linux-$$name; \
	  info=$$(file -L $$f); echo "$$info"; \
	  case "$$info" in *"statically linked"*|*"static-pie linked"*) ;; *) echo "FAIL: $$f is not statically linked"; exit 1;; esac; \
	  out=$$($$emu ./$$f version) || { echo "FAIL: $$f version did not run"; exit 1; }; \
	  echo "$$f version: $$out"; \
	done; done
