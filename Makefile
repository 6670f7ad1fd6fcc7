# The front door: `make run` starts the system, `make test` runs every test.
# Both install the system packages the build needs first (see scripts/install-deps.sh).

CARGO ?= cargo

.PHONY: deps run test bench lint jepsen-quick deb deb-check deb-test

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

# A short fault-injection run (needs root): 3 nodes, every nemesis once, all workloads;
# fails on any anomaly. See jepsen/README.md.
JEPSEN_OUT ?= $(or $(CARGO_TARGET_DIR),target)/jepsen-quick
jepsen-quick: deps
	$(CARGO) build -p raftwire-node -p raftwire-jepsen --bins
	$(or $(CARGO_TARGET_DIR),target)/debug/raftwire-jepsen --nodes 3 --time-limit 130 \
		--nemesis partition-halves,partition-leader,partition-majority,bridge,one-way,kill,kill-leader,pause,slow,membership \
		--hold 8 --quiet 4 --workload all --out $(JEPSEN_OUT)

# The Debian package (cargo-deb): raftwire-node, raftwire and raftwire-agent with their
# systemd units, in $(TARGET)/debian/. A release build of those three binaries (10+ minutes
# cold on two cores; CI reuses the release build its benchmark made). See deploy/README.md.
TARGET = $(or $(CARGO_TARGET_DIR),target)
deb: deps
	command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --locked
	$(CARGO) build --release -p raftwire-node -p raftwire-agent --bins
	$(CARGO) deb -p raftwire-node --no-build

# Unpacks the package built by `make deb` and runs every binary's --help from it.
deb-check:
	./scripts/deb-check.sh $(TARGET)/debian

# Builds the package, then installs it with dpkg (root), runs the installed node and CLI,
# and purges it again (scripts/deb-install-test.sh). CI runs it.
deb-test: deb deb-check
	./scripts/deb-install-test.sh $(TARGET)/debian
