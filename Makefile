# smartmaint — see README.md. Every target works on a fresh machine of the
# kind described in docs/DEVELOPMENT.md; `.ci/run` installs what is missing.

GO       ?= go
BIN      := bin/smartmaint
PKGS     := ./...
# The embedded Temporal server makes the first build slow (several minutes
# cold on 2 cores); later builds come from the Go build cache.

.PHONY: all build run test test-short vet bench fmt clean ml-compare fuzz soak

all: build

build:
	$(GO) build -o $(BIN) ./cmd/smartmaint

## run: the whole stack in one process (Temporal dev server + UI on :8233, API on :8080, worker)
run: build
	./$(BIN) dev

## test: unit and integration tests against real PostgreSQL, Redis and Temporal,
## then every fuzz target briefly
test: vet
	$(GO) test -count=1 -timeout 14m $(PKGS)
	$(MAKE) fuzz

## fuzz: every `func Fuzz…` in the module for FUZZTIME each (about 75 s in all
## at 2s, half of it linking the api test binary); new failing inputs land in
## the package's testdata/fuzz
FUZZTIME ?= 2s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## soak: mixed load (single and batched readings, queries, invalid and
## duplicated requests) on a spawned local API for SOAK_DURATION; per-minute
## throughput, p99, errors and API memory, then durability. Figures go to
## docs/BENCHMARKS.md ("Soak").
SOAK_DURATION ?= 10m
soak: build
	./$(BIN) soak -duration $(SOAK_DURATION)

test-short:
	$(GO) test -count=1 -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

## bench: Go benchmarks, then the HTTP load generator against a spawned API
## (single-reading POSTs at 10k/s, batched POSTs, raw COPY in the same run);
## record the figures in docs/BENCHMARKS.md
BENCH_PKGS ?= ./internal/store ./internal/maintenance ./internal/detect ./internal/ingest ./internal/ml/... ./internal/registry/... ./internal/schedule ./internal/simulate
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS)
	./$(BIN) loadtest -duration 20s -copy-duration 10s

## ml-compare: the Go models against scikit-learn 1.2 (Debian python3-sklearn) on the same folds
ML_COMPARE_DIR ?= /tmp/smartmaint-ml-compare
ml-compare: build
	@test -x /usr/bin/python3 && /usr/bin/python3 -c 'import sklearn' 2>/dev/null || \
		{ echo "ml-compare needs Debian's python3-sklearn: apt-get install -y python3-sklearn"; exit 1; }
	mkdir -p $(ML_COMPARE_DIR)
	./$(BIN) train --dataset ai4i --model gbdt --quiet --export-folds $(ML_COMPARE_DIR)/folds.csv --json $(ML_COMPARE_DIR)/gbdt.json > /dev/null
	./$(BIN) train --dataset ai4i --model iforest --trees 300 --quiet --json $(ML_COMPARE_DIR)/iforest.json > /dev/null
	$(GO) test -run '^$$' -bench 'BenchmarkScore$$' -benchtime 2s ./internal/ml/gbdt ./internal/ml/iforest > $(ML_COMPARE_DIR)/bench.txt
	./$(BIN) train --dataset cmapss --quiet --export-features $(ML_COMPARE_DIR)/cmapss --json $(ML_COMPARE_DIR)/cmapss/rul.json --out $(ML_COMPARE_DIR)/cmapss/rul.model > /dev/null
	/usr/bin/python3 scripts/ml_compare.py --dir $(ML_COMPARE_DIR)

fmt:
	gofmt -w .

clean:
	rm -rf bin
