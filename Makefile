# tandem: run `make help` for what is here.

GO      ?= go
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
LISTEN  ?= :8080
EXAMPLE ?= examples/django-nextjs/docker-compose.yml

.PHONY: help deps build example test stress vet fuzz bench-up bench-gateway bench-previews clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

deps: ## install what the example and the tests need (Debian packages)
	@scripts/install-deps

build: ## build bin/tandem
	$(GO) build -o bin/tandem ./cmd/tandem

example: deps build ## run the example stack behind the gateway on $(LISTEN) (Ctrl-C stops it)
	$(SUDO) bin/tandem up -f $(EXAMPLE) --listen $(LISTEN)

test: deps vet ## run the whole test suite (as root: it makes network namespaces)
	$(SUDO) $(GO) test -count=1 -timeout 20m ./...

stress: deps vet ## run the whole suite STRESS_RUNS times (5) in a row while stress-ng loads every core
	$(SUDO) env GO=$(GO) scripts/stress

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

fuzz: ## run each fuzz target for a while (FUZZTIME, default 30s)
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "$$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$t || exit 1; \
	  done; \
	done

bench-up: build ## time tandem up of the example, fresh and warm (after make example)
	$(SUDO) scripts/bench-up

bench-gateway: build ## gateway vs nginx and Caddy, and vs a Next.js proxy route (BENCH_DURATION, BENCH_FLAGS)
	$(SUDO) $(GO) run ./bench/gatewaybench -duration $${BENCH_DURATION:-10s} $${BENCH_FLAGS:-}

bench-previews: ## previews of the example: create cold, warm and the naive way; snapshot vs migrate+seed; 20 at once
	$(SUDO) $(GO) test -run '^$$' -bench BenchmarkPreviews -benchtime 1x -timeout 60m ./cmd/tandem

clean: ## remove bin/ and the example's data directory
	rm -rf bin examples/django-nextjs/.tandem
