# smartmaint — see README.md. Every target works on a fresh machine of the
# kind described in docs/DEVELOPMENT.md; `.ci/run` installs what is missing.

GO       ?= go
BIN      := bin/smartmaint
PKGS     := ./...
# The embedded Temporal server makes the first build slow (several minutes
# cold on 2 cores); later builds come from the Go build cache.

.PHONY: all build run test test-short vet bench fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/smartmaint

## run: the whole stack in one process (Temporal dev server + UI on :8233, API on :8080, worker)
run: build
	./$(BIN) dev

## test: unit and integration tests against real PostgreSQL, Redis and Temporal
test: vet
	$(GO) test -count=1 -timeout 14m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

## bench: Go benchmarks plus the HTTP load generator; figures go to docs/BENCHMARKS.md
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

fmt:
	gofmt -w .

clean:
	rm -rf bin
