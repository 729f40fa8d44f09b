# tandem: run `make help` for what is here.

GO      ?= go
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
LISTEN  ?= :8080
EXAMPLE ?= examples/django-nextjs/docker-compose.yml
TAGS    ?=

.PHONY: help deps build example test test-forge test-docker test-k8s stress vet fuzz bench-up bench-gateway bench-previews h2spec clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

deps: ## install what the example and the tests need (Debian packages)
	@scripts/install-deps

build: ## build bin/tandem (TAGS=kubernetes adds the kubernetes runtime)
	$(GO) build -tags "$(TAGS)" -o bin/tandem ./cmd/tandem

example: deps build ## run the example stack behind the gateway on $(LISTEN) (Ctrl-C stops it)
	$(SUDO) bin/tandem up -f $(EXAMPLE) --listen $(LISTEN)

test: deps vet ## run the whole test suite (as root: it makes network namespaces)
	$(SUDO) $(GO) test -count=1 -timeout 20m ./...

test-forge: deps ## the forge tests against a real Gitea, built once into /var/cache/tandem-ci by scripts/build-gitea
	gitea=$$(GO=$(GO) scripts/build-gitea) && \
	$(SUDO) env TANDEM_GITEA=$$gitea $(GO) test -count=1 -timeout 30m -run 'Forge|Webhook|Overrides|Gitea|GitHub|GitLab' \
	  ./forge/ ./github/ ./gitlab/ ./gitea/ ./internal/testgitea/ ./cmd/tandem/

DOCKERD_PID := /tmp/tandem-test-dockerd.pid

test-docker: deps ## the docker runtime's tests against a real Docker Engine (started and stopped here if none runs), with the local images of scripts/test-images
	@rm -f $(DOCKERD_PID); status=0; \
	TANDEM_DOCKERD_PIDFILE=$(DOCKERD_PID) scripts/docker-up && $(SUDO) scripts/test-images && \
	$(SUDO) $(GO) test -count=1 -timeout 20m ./docker/ ./mixed/ && \
	$(SUDO) $(GO) test -count=1 -timeout 20m -run 'Docker|Auto' ./cmd/tandem/ || status=$$?; \
	$(SUDO) scripts/docker-down $(DOCKERD_PID); \
	exit $$status

test-k8s: deps ## the kubernetes runtime's tests against a real single-node cluster (scripts/k8s-cluster, built once into /var/cache/tandem-ci)
	@rm -f $(DOCKERD_PID); status=0; \
	TANDEM_DOCKERD_PIDFILE=$(DOCKERD_PID) scripts/docker-up && $(SUDO) scripts/test-images && \
	kc=$$($(SUDO) env GO=$(GO) scripts/k8s-cluster start) && $(SUDO) scripts/k8s-cluster images local/busybox postgres:16 && \
	$(SUDO) env TANDEM_KUBECONFIG=$$kc $(GO) test -count=1 -timeout 20m -tags kubernetes ./kube/ && \
	$(SUDO) env TANDEM_KUBECONFIG=$$kc $(GO) test -count=1 -timeout 20m -tags kubernetes -run 'Kubernetes' ./cmd/tandem/ || status=$$?; \
	$(SUDO) scripts/k8s-cluster stop; \
	$(SUDO) scripts/docker-down $(DOCKERD_PID); \
	exit $$status

stress: deps vet ## run the whole suite STRESS_RUNS times (5) in a row while stress-ng loads every core
	$(SUDO) env GO=$(GO) scripts/stress

vet: ## gofmt, go vet, and builds of cmd/tandem for macOS and Windows
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags kubernetes ./cmd/tandem/
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/tandem
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/tandem

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

SLEEPING ?= 500
bench-previews: ## previews of the example: create cold, warm and the naive way; the seed article's inlined NEXT_PUBLIC_API_URL; snapshot vs migrate+seed; 20 at once; wake; SLEEPING asleep at once
	$(SUDO) env TANDEM_BENCH_SLEEPING=$(SLEEPING) $(GO) test -run '^$$' -bench 'BenchmarkPreviews|BenchmarkSeedPattern' -benchtime 1x -timeout 180m ./cmd/tandem

H2SPEC_PORT ?= 18443
h2spec: build ## HTTP/2 conformance of bin/tandem's TLS listener (h2spec, installed if missing; 3 known failures: docs/benchmarks.md)
	@command -v h2spec >/dev/null || test -x "$$($(GO) env GOPATH)/bin/h2spec" || $(GO) install github.com/summerwind/h2spec/cmd/h2spec@latest
	@d=$$(mktemp -d) && trap 'kill $$pid 2>/dev/null; rm -rf $$d' EXIT && \
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	  -keyout $$d/key.pem -out $$d/cert.pem 2>/dev/null && \
	printf 'access_log: off\nadmin: 127.0.0.1:%s\ntls: {listen: "127.0.0.1:%s", cert: %s/cert.pem, key: %s/key.pem}\nsites: [{name: h2spec, default: true, upstreams: {admin: 127.0.0.1}, routes: [{path: /, to: "admin:%s"}]}]\n' \
	  $$(($(H2SPEC_PORT)+1)) $(H2SPEC_PORT) $$d $$d $$(($(H2SPEC_PORT)+1)) >$$d/gateway.yaml && \
	{ bin/tandem gateway --config $$d/gateway.yaml 2>$$d/log & pid=$$!; } && \
	until grep -q 'gateway on' $$d/log; do kill -0 $$pid 2>/dev/null || { cat $$d/log; exit 1; }; sleep 0.1; done && \
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" h2spec -t -k -h 127.0.0.1 -p $(H2SPEC_PORT) -P /metrics

clean: ## remove bin/ and the example's data directory
	rm -rf bin examples/django-nextjs/.tandem
