# fleetnode: `make demo` and `make test` are the two commands of the README.
CARGO ?= cargo
RELEASE_DIR := target/release

.PHONY: all build test demo demo-render deps lint test-unit test-verify test-generator-deps test-cli test-fuzz fuzz bench clean

all: build

build:
	$(CARGO) build --release -p fleetnode-generator
	$(CARGO) build --release -p fleetnode --bin fleetnode

deps:
	bash scripts/deps.sh

# The whole suite. Each part installs what it needs (idempotently) first.
test: deps lint test-unit test-verify test-generator-deps test-cli test-foreman test-fuzz test-rpm test-cluster
	@echo "== all tests passed"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit, property, validation and golden tests (cargo test runs them all).
test-unit:
	$(CARGO) test --workspace

test-verify:
	$(CARGO) build -p fleetnode-generator
	bash tests/units/verify.sh

test-generator-deps:
	bash scripts/check-generator-deps.sh

# The CLI against a real etcd and discovery service on loopback.
test-cli:
	$(CARGO) build -p fleetnode --bin fleetnode
	bash tests/cli/run.sh

# A real local cluster: three booted containers with the RPMs installed (tests/cluster/demo.sh);
# it stays up until `make demo-down`. FLEET_TARBALL=... adds fleet.
demo: deps demo-cluster

# Without containers: what the generator makes of the shipped example.
demo-render:
	$(CARGO) build -q -p fleetnode --bin fleetnode
	@echo "== etc/examples/static-member.toml"; cat etc/examples/static-member.toml; echo
	target/debug/fleetnode check --config etc/examples/static-member.toml --root /nonexistent
	target/debug/fleetnode render --config etc/examples/static-member.toml --root /nonexistent

# Fuzzing: a short run in `make test`, a long one here (FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 600
test-fuzz:
	FUZZ_SECONDS=30 bash scripts/fuzz-ci.sh

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz-ci.sh

# Benchmarks: writes BENCHMARKS.md (see benches/bench.py). BENCH_RUNS=N to change run counts.
bench: deps
	bash scripts/bench-deps.sh
	python3 benches/bench.py

clean:
	$(CARGO) clean
	rm -rf dist results

# Packaging (rpm, repo, sources, test-rpm) and the booted-cluster tests.
include rpm/rpm.mk
include tests/cluster/cluster.mk
include tests/foreman/foreman.mk
