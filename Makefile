# Ringmaster. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/ringmaster
PKGS  := ./...
STATICCHECK_VERSION := v0.8.2
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
GOBIN := $(shell $(GO) env GOPATH)/bin

FUZZTIME ?= 10s
# Packages whose tests wait on processes, networks and clocks: the ones a
# loaded machine would turn flaky if they relied on timing.
STRESS_PKGS := ./plugins/... ./orchestrator/... ./store/sqlite/... ./playbooks/... ./campaigns/... ./discovery/... ./notify/...
# The PostgreSQL engine's suites and the scheduler's PostgreSQL runs (the
# same tests, another engine) run once under -race in make test; under
# stress they would double the run.
STRESS_SKIP := /PostgreSQL$$
# The ground-truth campaign runs over 500 simulated devices in make test;
# under stress a smaller estate keeps the runs within CI's time.
STRESS_DEVICES := 100
# Twice keeps CI's whole run near 30 minutes on 2 cores; raise it locally
# (make stress STRESS_COUNT=10) to hunt a flake.
STRESS_COUNT := 2

.PHONY: help build check-tree test stress lint fuzz proto verify-proto bench bench-scale bench-national bench-national-postgres bench-forecast bench-forecast-stored backtest-forecast bench-copy bench-api bench-sim bench-probe bench-campaign bench-inflight bench-dense demo demo-postgres demo-nodes clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/ringmaster
	$(GO) build -o $(BIN) ./cmd/ringmaster

check-tree: ## fail if the repository tracks a binary, a run output (what .gitignore ignores) or a file over 1 MB
	.ci/check-tree

test: ## run every test with the race detector, then the slow crash-safety and SIGTERM tests (each run 20 minutes at most)
	$(GO) test -race -timeout 20m $(PKGS)
	$(GO) test -race -timeout 20m -tags slow -run '^(TestCrashSafety|TestRunStopsOnSIGTERM|TestSeveralNodesCrash)$$' ./cmd/ringmaster

stress: ## the timing-sensitive packages' tests twice (STRESS_COUNT) under -race while stress-ng keeps both cores busy: any flake fails
	@command -v stress-ng >/dev/null || { echo "stress-ng not found: apt-get install stress-ng"; exit 1; }
	@stress-ng --cpu 2 --timeout 60m --quiet & load=$$!; trap 'kill $$load 2>/dev/null' EXIT; \
		RINGMASTER_TEST_DEVICES=$(STRESS_DEVICES) $(GO) test -race -count=$(STRESS_COUNT) -timeout 45m -skip '$(STRESS_SKIP)' $(STRESS_PKGS)

lint: ## go vet, gofmt and staticcheck
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@test -x "$$($(GO) env GOPATH)/bin/staticcheck" || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

fuzz: ## run every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each (default 10s); see .ci/fuzz
	FUZZTIME=$(FUZZTIME) GO=$(GO) .ci/fuzz

proto: ## regenerate plugins/sdk/proto from executor.proto (needs protoc: apt-get install protobuf-compiler)
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH="$(GOBIN):$$PATH" protoc --proto_path=plugins/sdk/proto \
		--go_out=plugins/sdk/proto --go_opt=paths=source_relative \
		--go-grpc_out=plugins/sdk/proto --go-grpc_opt=paths=source_relative \
		plugins/sdk/proto/executor.proto

verify-proto: proto ## fail if the committed generated code differs from executor.proto's
	git diff --exit-code -- plugins/sdk/proto

bench: ## Go benchmarks, then the 1.3M-device scale run and the simulator benchmark
	RINGMASTER_BENCH_DEVICES=100000 $(GO) test -run '^$$' -bench . -benchtime 3x ./inventory/... ./store/...
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./plugins/...
	$(MAKE) bench-scale
	$(MAKE) bench-sim
	$(MAKE) bench-probe
	$(MAKE) bench-campaign
	$(MAKE) bench-dense
	$(MAKE) bench-national
	$(MAKE) bench-inflight

bench-scale: build ## import a generated 1.3M-device estate and list organisations from it
	$(GO) run ./cmd/scalebench -bin $(BIN) -devices 1300000 -orgs 300

bench-national: build ## one campaign over the 1.3M-device estate: create, show, list, the HTML report, then run with 1,000 workers (pilot, idle, dispatch)
	$(GO) run ./cmd/nationalbench -bin $(BIN) -devices 1300000 -orgs 300 -workers 1000

bench-national-postgres: build ## the same on PostgreSQL (a fresh database ringmaster_national on the server .ci/postgres starts), the scheduler as 3 node processes
	$(GO) run ./cmd/nationalbench -bin $(BIN) -devices 1300000 -orgs 300 -workers 1000 -nodes 3 -procs -db "$$(.ci/postgres ringmaster_national)"

bench-copy: build ## db copy of the 1.3M-device estate with a campaign over it, from SQLite into a fresh database ringmaster_copy on the server .ci/postgres starts
	$(GO) run ./cmd/copybench -bin $(BIN) -devices 1300000 -orgs 300 -db "$$(.ci/postgres ringmaster_copy)"

bench-api: build ## the API and the dashboard over the 1.3M-device estate with a year of history: the scorecard, a campaign's summary and the dashboard's pages from 16 clients, as the estate, a region and an organisation (first computation, req/s, p50, p99)
	$(GO) run ./cmd/apibench -bin $(BIN) -devices 1300000 -orgs 300

bench-forecast: ## the national feature-update campaign over the 1.3M-device estate forecast from its draft: 20 replays of its controller (target 30 s on 2 cores)
	$(GO) test ./forecast -run '^$$' -bench BenchmarkNationalForecast -benchtime 1x

bench-forecast-stored: build ## the background forecast of the national campaign with a fifth of its devices run (learn from its transitions, 20 replays, store), then the reports that show it; FROM=api.db starts from that estate rather than generating one
	$(GO) run ./cmd/forecastbench -bin $(BIN) $(if $(FROM),-from $(FROM))

backtest-forecast: ## the forecast against what happens: three feature-update campaigns on simulated estates (windows, caps, soak, faults; one organisation's windows two nights a week), each forecast when 20% of its devices have an outcome, then run to its end (about 30 minutes)
	$(GO) run ./cmd/forecastbacktest -shapes nightly,sparse,sites

bench-sim: build ## 10,000 simulated devices driven by masterzen/winrm at concurrency 1, 50 and 500
	$(GO) run ./cmd/simbench -bin $(BIN) -devices 10000 -concurrency 1,50,500 -duration 10s

bench-campaign: build ## a win10-feature-update campaign over 5,000 simulated devices at concurrency 500, against a bare executor loop
	$(GO) run ./cmd/campaignbench -bin $(BIN) -devices 5000 -concurrency 500 -time-scale 600

bench-inflight: build ## 10,000 simulated feature updates in flight at once under the real ringmaster run: its RSS <= 1 GiB, <= 1 core, every device succeeded
	$(GO) run ./cmd/inflightbench -bin $(BIN) -devices 10000 -time-scale 20

bench-dense: build ## a five-command playbook campaign over 1,000 simulated devices at 500 workers, against a bare masterzen loop of the same commands (commands per second, ratio)
	$(GO) run ./cmd/densebench -bin $(BIN) -devices 1000 -workers 500 -rounds 3

bench-probe: build ## ringmaster probe over 5,000 simulated devices against a plain masterzen loop
	$(GO) run ./cmd/probebench -bin $(BIN) -devices 5000 -concurrency 500

demo: build ## the main job end to end on a simulated estate: import, discover, a 3-wave upgrade campaign, an alert, the HTML report (in ./ringmaster-demo)
	$(BIN) demo --dir ringmaster-demo

demo-postgres: build ## the demo (500 devices) on PostgreSQL: a fresh database ringmaster_demo on the server .ci/postgres starts
	$(BIN) demo --dir ringmaster-demo-pg --devices 500 --db "$$(.ci/postgres ringmaster_demo)"

demo-nodes: build ## three ringmaster run nodes on PostgreSQL, each serving one organisation of a simulated estate (deploy/three-nodes.sh)
	BIN=$(BIN) deploy/three-nodes.sh ringmaster-nodes

clean: ## remove build output and demo files
	rm -rf bin ringmaster-demo ringmaster-demo-pg ringmaster-nodes
