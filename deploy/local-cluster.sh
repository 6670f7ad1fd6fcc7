#!/usr/bin/env bash
# A 3-node Raftwire cluster on loopback with HAProxy (deploy/haproxy.cfg) in front.
#
#   deploy/local-cluster.sh start    # prints the URL and the admin token
#   deploy/local-cluster.sh status
#   deploy/local-cluster.sh stop     # stops everything start started; the data stays
#
# Environment:
#   LOCAL_CLUSTER_DIR   state: data dirs, logs, pid files, the cluster secret (./local-cluster)
#   LOCAL_CLUSTER_PORT  HAProxy's port (7080); the nodes listen on the next three
#   LOCAL_CLUSTER_BIN   where raftwire-node is (default: the cargo target dir's debug
#                       binaries, built first when missing)
# A second `start` on the same directory restarts the same cluster with its data.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="${LOCAL_CLUSTER_DIR:-./local-cluster}"
port="${LOCAL_CLUSTER_PORT:-7080}"
bin="${LOCAL_CLUSTER_BIN:-${CARGO_TARGET_DIR:-$here/../target}/debug}"
host=127.0.0.1
lb_url="http://$host:$port"

node_port() { echo $((port + $1)); }

# Whether the process whose pid is in file $1 runs.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # what, seconds, command…
  local what=$1 limit=$2
  shift 2
  for _ in $(seq $((limit * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "local-cluster: $what did not happen within ${limit}s (logs in $dir)" >&2
  return 1
}

ready() { curl -fsS -m 2 "http://$host:$(node_port "$1")/readyz"; }

voters_via_lb() { # the number of voters the cluster reports through HAProxy
  curl -fsS -m 2 -H "Authorization: Bearer $(cat "$dir/n1/admin-token")" "$lb_url/api/v1/cluster" |
    grep -o '"voter":true' | wc -l
}

start() {
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ ! -x "$bin/raftwire-node" ]; then
    echo "local-cluster: building raftwire-node" >&2
    (cd "$here/.." && cargo build -q -p raftwire-node --bins)
  fi
  command -v haproxy >/dev/null || {
    echo "local-cluster: haproxy is missing (apt-get install haproxy, or scripts/install-deps.sh)" >&2
    exit 1
  }
  # One secret for all three, made before any node starts: none of them races to create it.
  if [ ! -s "$dir/cluster-secret" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$dir/cluster-secret")
  fi
  for id in 1 2 3; do
    if alive "$dir/n$id.pid"; then
      echo "local-cluster: node $id already runs (pid $(cat "$dir/n$id.pid"))" >&2
      continue
    fi
    args=(--id "$id" --data-dir "$dir/n$id" --listen "$host:$(node_port "$id")"
      --cluster-secret-file "$dir/cluster-secret")
    [ "$id" = 1 ] || args+=(--join "http://$host:$(node_port 1)")
    RUST_LOG="${RUST_LOG:-info,openraft=warn}" nohup "$bin/raftwire-node" "${args[@]}" \
      >>"$dir/n$id.log" 2>&1 </dev/null &
    echo $! >"$dir/n$id.pid"
    # Node 1 first: the others join it.
    [ "$id" = 1 ] && wait_for "node 1 ready" 60 ready 1
  done
  if ! alive "$dir/haproxy.pid"; then
    LB_BIND="$host:$port" LB_NODE1="$host:$(node_port 1)" LB_NODE2="$host:$(node_port 2)" \
      LB_NODE3="$host:$(node_port 3)" nohup haproxy -db -f "$here/haproxy.cfg" \
      >>"$dir/haproxy.log" 2>&1 </dev/null &
    echo $! >"$dir/haproxy.pid"
  fi
  for id in 1 2 3; do wait_for "node $id ready" 60 ready "$id"; done
  wait_for "3 voters behind HAProxy" 60 voters_3
  echo "Raftwire cluster: $lb_url (nodes on ports $(node_port 1)-$(node_port 3), state in $dir)"
  echo "admin token (node 1's; valid on every node): $(cat "$dir/n1/admin-token")"
  echo "  export RAFTWIRE_SERVER=$lb_url RAFTWIRE_TOKEN_FILE=$dir/n1/admin-token"
}

voters_3() { [ "$(voters_via_lb)" = 3 ]; }

stop() {
  local pids=()
  for name in haproxy n1 n2 n3; do
    if alive "$dir/$name.pid"; then pids+=("$(cat "$dir/$name.pid")"); fi
  done
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir"/{haproxy,n1,n2,n3}.pid
  echo "local-cluster: stopped (data kept in $dir)"
}

status() {
  local rc=0
  for id in 1 2 3; do
    if alive "$dir/n$id.pid"; then
      if ready "$id" >/dev/null 2>&1; then r=ready; else r="not ready"; fi
      echo "node $id: running (pid $(cat "$dir/n$id.pid")), http://$host:$(node_port "$id") $r"
    else
      echo "node $id: stopped"
      rc=3
    fi
  done
  if alive "$dir/haproxy.pid"; then
    echo "haproxy: running (pid $(cat "$dir/haproxy.pid")), $lb_url"
  else
    echo "haproxy: stopped"
    rc=3
  fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 64
    ;;
esac
