# idmtelemetry — run `make help` for the targets.
GO       ?= go
BIN      := bin/idmtelemetry
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# Product packages; bench/ holds comparison studies with their own targets.
PKGS     := $(shell $(GO) list ./... | grep -v /bench/)
FUZZTIME ?= 60s

.PHONY: help build run test bench bench-parquet fuzz lint clean

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/idmtelemetry.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/idmtelemetry

run: build ## Run server and job scheduler on the embedded default (./var): prints URL, token, keys and a curl example.
	./$(BIN) run --log-format text

test: ## Run every test with the race detector, then the heat-pump fault evaluation (what CI runs).
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -short -count=1 ./bench/...
	# The heat-pump fault evaluation of docs/MODEL_QUALITY.md (about a
	# minute, without the race detector): fails if a change costs a fault
	# kind its documented AUC.
	IDMT_HEATPUMP_EVAL=1 $(GO) test -count=1 -timeout 10m -run '^TestHeatpumpFigures$$' ./trainer/quality/

bench: ## Run the benchmarks (figures go to docs/BENCHMARKS.md).
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS)

bench-parquet: ## Compare arrow-go and parquet-go on the lake's file shape (minutes; see bench/parquet/README.md).
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./bench/parquet

fuzz: ## Fuzz the payload decoder and the landing reader, FUZZTIME (default 60s) each.
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./ingest
	$(GO) test -run '^$$' -fuzz FuzzDecodeLanding -fuzztime $(FUZZTIME) ./lake

lint: ## gofmt, go vet and staticcheck.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

clean: ## Remove build output (not ./var).
	rm -rf bin
