# Shared helpers for the benchmarks in tools/bench (sourced, not run). Every process started
# here is remembered by PID and stopped by PID in bench_cleanup; every mount is unmounted there.
# Traffic stays on 127.0.0.1. The clusters run without a secret or TLS.
#
# After sourcing: $repo, $bin, $work (a fresh temp dir) are set and an EXIT trap is installed.
#   bench_init NAME                      sets up $work, the trap, the binaries
#   cluster_up PREFIX MASTERS DATANODES [extra master flags...]
#                                        starts a cluster; sets $masters (comma-separated)
#   cluster_down                         stops it (by PID)
#   master_start I / wait_leader         (re)starts master I; waits for a full healthy group
#   master_pid I / master_dir I          the I-th master (0-based) of the cluster
#   leader_index                         which master leads now (by `dfsadmin raft status`)
#   fuse_mount MOUNTPOINT / fuse_unmount MOUNTPOINT
#   passthru_build; passthru_mount MOUNTPOINT BACKING
#   now; since T0; median V...; drop_caches
# shellcheck shell=bash

bench_pids=()     # every process we started, killed by PID at exit
bench_mounts=()   # every mount point we mounted, unmounted at exit
declare -A bench_mount_pid

bench_init() {  # bench_init NAME
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if [ -z "${DFS_BUILD_DIR:-}" ]; then "$repo/tools/setup.sh"; fi
  bin="${DFS_BUILD_DIR:-$repo/build}/bin"
  work="$(mktemp -d "${TMPDIR:-/tmp}/dfs-$1-XXXXXX")"
  # These clusters run without a secret or TLS: keep the clients off the user's client.conf.
  export DFS_CONFIG=/dev/null
  unset DFS_SECRET_FILE DFS_TLS_CA DFS_MASTERS
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  set +e
  local m p
  for m in "${bench_mounts[@]}"; do fuse_unmount "$m"; done
  for p in "${bench_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${bench_pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }'; }
median() {  # median V... (numbers; empty values ignored)
  printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_file() {
  local _
  for _ in $(seq 1 400); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "bench: timed out waiting for $1" >&2; return 1
}

declare -a cluster_master_pids cluster_master_dirs cluster_master_flags cluster_dn_pids
cluster_dn_flags=()  # extra flags for the datanodes of the next cluster_up (later ones win)
cluster_up() {  # cluster_up PREFIX MASTERS DATANODES [extra master flags...]
  local prefix="$1" n="$2" dns="$3" i addr
  shift 3
  cluster_master_flags=("$@")
  masters=""
  for i in $(seq 1 "$n"); do masters="$masters${masters:+,}127.0.0.1:$(free_port)"; done
  cluster_master_pids=(); cluster_master_dirs=(); cluster_dn_pids=()
  i=0
  for addr in ${masters//,/ }; do
    cluster_master_dirs+=("$work/$prefix-m$i"); cluster_master_pids+=("")
    master_start "$i"
    i=$((i + 1))
  done
  for i in $(seq 0 $((n - 1))); do wait_for_file "$work/$prefix-m$i.port"; done
  wait_leader
  for i in $(seq 0 $((dns - 1))); do
    "$bin/dfs-datanode" --data_dir="$work/$prefix-dn$i" --listen=127.0.0.1:0 --masters="$masters" \
      --rack="rack-$((i % 2))" --heartbeat_interval_ms=500 --http_listen= \
      --port_file="$work/$prefix-dn$i.port" "${cluster_dn_flags[@]}" >"$work/$prefix-dn$i.log" 2>&1 &
    bench_pids+=($!); cluster_dn_pids+=($!)
    wait_for_file "$work/$prefix-dn$i.port"
  done
  # Ready when a leader answers and every datanode is live.
  local live
  for _ in $(seq 1 300); do
    live=$("$bin/dfsadmin" --masters="$masters" datanodes 2>/dev/null | grep -c " live " || true)
    [ "$live" = "$dns" ] && return 0
    sleep 0.1
  done
  echo "bench: cluster $prefix did not come up (logs in $work)" >&2; return 1
}
master_start() {  # master_start I: (re)starts master I with its data dir, address and flags
  local i="$1" d="${cluster_master_dirs[$1]}" addrs
  read -r -a addrs <<<"${masters//,/ }"
  rm -f "$d.port"
  "$bin/dfs-master" --data_dir="$d" --listen="${addrs[$i]}" --peers="$masters" --http_listen= \
    --port_file="$d.port" "${cluster_master_flags[@]}" >>"$d.log" 2>&1 &
  bench_pids+=($!); cluster_master_pids[i]=$!
}
wait_leader() {  # waits until every master answers and one leads
  for _ in $(seq 1 300); do
    "$bin/dfsadmin" --masters="$masters" raft status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench: no Raft leader (logs in $work)" >&2; return 1
}
cluster_down() {  # stops the processes of the last cluster_up (SIGKILL: nothing to flush)
  local p
  for p in "${cluster_dn_pids[@]}" "${cluster_master_pids[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
master_pid() { echo "${cluster_master_pids[$1]}"; }
master_dir() { echo "${cluster_master_dirs[$1]}"; }
leader_index() {  # prints the 0-based index of the master that leads now (by its address)
  local leader i=0 addr
  leader="$("$bin/dfsadmin" --masters="$masters" raft status 2>/dev/null |
    awk '$2 == "leader" { print $1; exit }')" || true
  for addr in ${masters//,/ }; do
    [ "$addr" = "$leader" ] && { echo "$i"; return 0; }
    i=$((i + 1))
  done
  return 1
}

is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }
wait_mounted() {  # wait_mounted MOUNTPOINT PID
  local _
  for _ in $(seq 1 200); do
    is_mounted "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench: nothing mounted at $1 (logs in $work)" >&2; return 1
}
fuse_mount_flags=()  # extra flags for the next fuse_mount (later ones win)
fuse_mount() {  # fuse_mount MOUNTPOINT: dfs-fuse for the cluster in $masters
  mkdir -p "$1"
  "$bin/dfs-fuse" -f --masters="$masters" --log_file="$work/fuse.log" --http_listen= \
    "${fuse_mount_flags[@]}" "$1" \
    >>"$work/fuse.log" 2>&1 </dev/null &
  bench_pids+=($!); bench_mounts+=("$1"); bench_mount_pid[$1]=$!
  wait_mounted "$1" $!
}
fuse_unmount() {  # fuse_unmount MOUNTPOINT: unmount, then wait for that file system's process
  local pid="${bench_mount_pid[$1]:-}"
  if is_mounted "$1"; then fusermount3 -u "$1" 2>/dev/null || fusermount3 -u -z "$1" || true; fi
  if [ -n "$pid" ]; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  unset "bench_mount_pid[$1]"
}

passthru_build() {  # builds libfuse's passthrough_ll example into $work/passthrough_ll
  local examples=/usr/share/doc/libfuse3-dev/examples f
  mkdir -p "$work/pt-src"
  for f in passthrough_ll.c passthrough_helpers.h; do
    if [ -f "$examples/$f" ]; then cp "$examples/$f" "$work/pt-src/"
    elif [ -f "$examples/$f.gz" ]; then zcat "$examples/$f.gz" >"$work/pt-src/$f"
    else echo "bench: $examples/$f not found (install libfuse3-dev)" >&2; return 1
    fi
  done
  # shellcheck disable=SC2046
  cc -O2 -Wall $(pkg-config fuse3 --cflags) "$work/pt-src/passthrough_ll.c" \
    -o "$work/passthrough_ll" $(pkg-config fuse3 --libs)
}
passthru_mount() {  # passthru_mount MOUNTPOINT BACKING
  mkdir -p "$1" "$2"
  "$work/passthrough_ll" -f -o source="$2" "$1" >>"$work/passthru.log" 2>&1 </dev/null &
  bench_pids+=($!); bench_mounts+=("$1"); bench_mount_pid[$1]=$!
  wait_mounted "$1" $!
}
