#!/usr/bin/env bash
# Installs the Debian package `make deb` built, as an operator would (`dpkg -i`), and checks
# that what it installed works: the binaries on PATH, the systemd units, the `raftwire`
# system user and /etc/raftwire its postinst makes; then runs the installed node on
# loopback, drives it with the installed CLI, stops it with SIGTERM, and purges the package.
# Everything it added is removed again, also on failure. Needs root (dpkg); refuses to run
# where a raftwire package is already installed (it would remove it).
# Usage: scripts/deb-install-test.sh <dir with raftwire_*.deb>
set -euo pipefail
deb=$(ls -t "${1:?the directory of the .deb}"/raftwire_*.deb | head -1)
[ "$(id -u)" = 0 ] || { echo "deb-install-test: needs root (dpkg -i)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' raftwire 2>/dev/null | grep -q 'install ok installed'; then
  echo "deb-install-test: a raftwire package is installed here already; not touching it" >&2
  exit 1
fi
had_user=$(getent passwd raftwire >/dev/null && echo yes || echo no)
had_etc=$([ -e /etc/raftwire ] && echo yes || echo no)
work=$(mktemp -d)
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill -9 "$node_pid" 2>/dev/null || true
  dpkg --purge raftwire >/dev/null 2>&1 || true
  [ "$had_user" = no ] && getent passwd raftwire >/dev/null && deluser --system raftwire >/dev/null 2>&1 || true
  [ "$had_user" = no ] && getent group raftwire >/dev/null && delgroup --system raftwire >/dev/null 2>&1 || true
  [ "$had_etc" = no ] && rm -rf /etc/raftwire
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "deb-install-test: $*" >&2; exit 1; }

dpkg -i "$deb" >/dev/null
for b in raftwire-node raftwire raftwire-agent; do
  [ "$(command -v "$b")" = "/usr/bin/$b" ] || fail "$b is not /usr/bin/$b on PATH"
  "$b" --help >/dev/null
done
for u in raftwire-node.service raftwire-agent.service; do
  dpkg -L raftwire | grep -qx "/lib/systemd/system/$u" || fail "the package does not install $u"
done
getent passwd raftwire >/dev/null || fail "postinst made no raftwire user"
[ -d /etc/raftwire ] || fail "postinst made no /etc/raftwire"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/raftwire-node.service >/dev/null 2>&1 ||
    fail "systemd-analyze verify rejects the installed node unit"
fi

# The installed node, single-node default, on a free loopback port; the installed CLI.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/raftwire-node --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/node.log" 2>&1 &
node_pid=$!
export RAFTWIRE_SERVER="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$RAFTWIRE_SERVER/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$RAFTWIRE_SERVER/readyz" >/dev/null || { cat "$work/node.log" >&2; fail "the installed node never became ready"; }
export RAFTWIRE_TOKEN_FILE="$work/data/admin-token"
raftwire network create deb --ipv4-cidr 10.77.0.0/24 >/dev/null
raftwire peer add deb laptop >/dev/null
raftwire peer list deb | grep -q laptop || fail "the installed CLI does not list the peer it created"
kill -TERM "$node_pid"
wait "$node_pid" || fail "the installed node did not exit cleanly on SIGTERM ($?)"
node_pid=

dpkg --purge raftwire >/dev/null
for b in raftwire-node raftwire raftwire-agent; do
  [ ! -e "/usr/bin/$b" ] || fail "/usr/bin/$b is still there after the purge"
done
echo "deb-install-test: $(basename "$deb") installs, its node serves its CLI, and it purges cleanly"
