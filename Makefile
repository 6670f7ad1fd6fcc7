# The front door: `make run` starts the system, `make test` runs every test.
# Both install the system packages the build needs first (see scripts/install-deps.sh).

CARGO ?= cargo

.PHONY: deps run test bench lint

deps:
	./scripts/install-deps.sh

run: deps
	$(CARGO) run -p raftwire-node --bin raftwire-node

test: deps
	# The end-to-end tests run the workspace's binaries as processes: build them first.
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	./scripts/schemathesis.sh

bench: deps
	$(CARGO) bench --workspace

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
