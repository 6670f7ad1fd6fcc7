#!/usr/bin/env bash
# Installs the Debian packages Raftwire needs to build and test:
#   librocksdb-dev            RocksDB 7.8 to link against (instead of compiling ~27 min of C++)
#   clang libclang-dev        bindgen (librocksdb-sys) needs libclang
#   curl                      scripts/schemathesis.sh talks to the node it starts
#   python3-venv              scripts/schemathesis.sh keeps schemathesis in .venv-tools/
#   iptables wireguard-tools wireguard-go bind9-dnsutils iputils-ping iproute2
#                             the agent's and the end-to-end tests in network namespaces
#                             (real iptables/ip6tables, userspace WireGuard, dig, ping)
#   chromium chromium-driver  the web UI's browser test (headless Chromium over WebDriver)
#   jq                        the examples of the README and docs/, which a test runs
#   haproxy                   deploy/local-cluster.sh, the load-balanced cluster tests, the bench
#   etcd-server               raftwire-bench: etcd 3.4 side by side
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

packages=(librocksdb-dev clang libclang-dev curl python3-venv
  iptables wireguard-tools wireguard-go bind9-dnsutils iputils-ping iproute2
  chromium chromium-driver jq haproxy etcd-server)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
