#!/usr/bin/env bash
# Benchmark (not a test): metadata operations per second (create, stat, rename) through the
# client library, from 1 and from 16 concurrent clients, against a 1-master and a 3-master Raft
# group started fresh in this run. Prints ops/s and the 3-master/1-master ratio per figure.
#
#   tools/bench/meta.sh [FILES_PER_CLIENT]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
files="${1:-2000}"
"$repo/tools/setup.sh"
bin="${DFS_BUILD_DIR:-$repo/build}/bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/dfs-meta-bench-XXXXXX")"
# This cluster runs without a secret or TLS: keep the clients off the user's client.conf.
export DFS_CONFIG=/dev/null
unset DFS_SECRET_FILE DFS_TLS_CA
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {  # run MASTERS CLIENTS -> lines "phase ops seconds ops/s"
  local n="$1" clients="$2" peers="" i
  for i in $(seq 1 "$n"); do peers="$peers${peers:+,}127.0.0.1:$(free_port)"; done
  local started=()
  i=0
  for addr in ${peers//,/ }; do
    i=$((i + 1))
    "$bin/dfs-master" --data_dir="$work/m$n-$clients-$i" --listen="$addr" --peers="$peers" \
      >"$work/m$n-$clients-$i.log" 2>&1 &
    started+=($!); pids+=($!)
  done
  sleep 2
  "$bin/dfs-meta-load" --masters "$peers" --clients "$clients" --files "$((files / clients))"
  for p in "${started[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}

declare -A rate
for clients in 1 16; do
  for masters in 1 3; do
    while read -r phase ops seconds per_second; do
      rate[$phase,$clients,$masters]=$per_second
    done < <(run "$masters" "$clients")
  done
done
printf '%-8s %8s %14s %14s %8s\n' phase clients "1 master op/s" "3 masters op/s" ratio
for clients in 1 16; do
  for phase in create stat rename; do
    one=${rate[$phase,$clients,1]}; three=${rate[$phase,$clients,3]}
    printf '%-8s %8s %14s %14s %8.2f\n' "$phase" "$clients" "$one" "$three" \
      "$(awk -v a="$three" -v b="$one" 'BEGIN { print a / b }')"
  done
done
