#!/usr/bin/env bash
# Builds `raftwire-node` of the previous release (the commit in scripts/previous-release) for
# the rolling-upgrade test (tests/tests/it/upgrade.rs), once: the binary is kept in
# $RAFTWIRE_PREVIOUS_DIR (default /var/cache/raftwire-previous/<commit>/raftwire-node) and
# this prints its path. The build runs in a temporary git worktree of this checkout with its
# own target dir, so it never disturbs the current build. A few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(grep -v '^#' scripts/previous-release | head -1 | tr -d '[:space:]')
base=${RAFTWIRE_PREVIOUS_DIR:-/var/cache/raftwire-previous}
out="$base/$commit"
if [ -x "$out/raftwire-node" ]; then
  echo "$out/raftwire-node"
  exit 0
fi
# A shallow clone lacks the commit: fetch it from where this clone came from.
git cat-file -e "$commit^{commit}" 2>/dev/null ||
  git fetch --quiet --unshallow 2>/dev/null || git fetch --quiet origin "$commit" ||
  { echo "build-previous: commit $commit is not in this clone" >&2; exit 1; }
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --detach --force "$tree" "$commit" >/dev/null 2>&1
(cd "$tree" && CARGO_TARGET_DIR="$base/target" cargo build --quiet -p raftwire-node --bin raftwire-node >&2)
cp "$base/target/debug/raftwire-node" "$out/raftwire-node.part"
mv "$out/raftwire-node.part" "$out/raftwire-node"
echo "$out/raftwire-node"
