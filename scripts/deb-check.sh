#!/usr/bin/env bash
# Checks the Debian package `make deb` built: it holds the three binaries and both systemd
# units where the units expect them, and each binary runs from it (--help).
# Usage: scripts/deb-check.sh <dir with raftwire_*.deb>
set -euo pipefail
deb=$(ls -t "${1:?the directory of the .deb}"/raftwire_*.deb | head -1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
for f in usr/bin/raftwire-node usr/bin/raftwire usr/bin/raftwire-agent \
  lib/systemd/system/raftwire-node.service lib/systemd/system/raftwire-agent.service; do
  [ -e "$root/$f" ] || { echo "deb-check: $deb lacks /$f" >&2; exit 1; }
done
for b in raftwire-node raftwire raftwire-agent; do
  "$root/usr/bin/$b" --help >/dev/null
done
grep -q '^ExecStart=/usr/bin/raftwire-node$' "$root/lib/systemd/system/raftwire-node.service"
grep -q '^ExecStart=/usr/bin/raftwire-agent$' "$root/lib/systemd/system/raftwire-agent.service"
dpkg-deb -I "$deb" | grep -E '^ (Package|Version|Depends):'
echo "deb-check: $deb is complete"
