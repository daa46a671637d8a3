#!/usr/bin/env bash
# Benchmark (not a test): re-replication throughput after a datanode is lost, beside `cp` of the
# same bytes on the same disk, in one run.
#
# Starts a fresh local cluster (3 masters, 4 datanodes in 2 racks, RF 3, copies unthrottled), puts
# SIZE_MIB of data, SIGKILLs one datanode, and times from the moment the master declares it dead
# until no chunk is under-replicated. The bytes re-replicated are those the dead datanode held.
# Baseline: cp of the same number of bytes plus sync on the same file system (every copy the
# datanodes make is fsynced too).
#
#   tools/bench/rereplication.sh [SIZE_MIB] [CHUNK_MIB]     (defaults 1024 and 64)
#
# Uses binaries from $DFS_BUILD_DIR/bin (default build/bin); builds them with tools/setup.sh
# unless DFS_BUILD_DIR is set. Every process it starts is stopped by PID on exit.
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
size_mib="${1:-1024}"
chunk_mib="${2:-64}"
bench_init rerepl
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

# ---- cluster ----
dead_ms=3000
cluster_dn_flags=(--heartbeat_interval_ms=300 --scrub_bytes_per_sec=0)
cluster_up rr 3 4 --datanode_dead_ms=$dead_ms --maintenance_scan_interval_ms=200 \
  --replication_bytes_per_sec=0 --replication_max_concurrent=8 --balancer_interval_ms=0
master="$masters"

head -c "$((size_mib << 20))" /dev/urandom >"$work/src"
"$bin/dfs" --masters="$master" --chunk-size=$((chunk_mib << 20)) put "$work/src" /bench
rm -f "$work/src"

status_field() {  # status_field NAME: a number from `dfsadmin status --json` (64-bit ones are strings)
  "$bin/dfsadmin" --masters="$master" status --json 2>/dev/null |
    grep -o "\"$1\":\"\?[0-9]*" | head -1 | cut -d: -f2 | tr -d '"'
}
# Let the maintenance start acting (a master acts once it has led for one dead-timeout).
for _ in $(seq 1 100); do
  [ "$(status_field under_replicated_chunks)" = 0 ] && [ "$(status_field replications_in_flight)" = 0 ] && break
  sleep 0.1
done
sleep "$(awk -v ms=$dead_ms 'BEGIN { print ms / 1000 }')"

# ---- lose datanode 0 ----
victim_id="$(cat "$work/rr-dn0/DATANODE_ID")"
lost_bytes=$(du -sb "$work/rr-dn0/chunks" | cut -f1)
lost_chunks=$(find "$work/rr-dn0/chunks" -name '*.chunk' | wc -l)
done_before="$(status_field replications_done)"
drop_caches
{ kill -KILL "${cluster_dn_pids[0]}"; wait "${cluster_dn_pids[0]}"; } 2>/dev/null || true
t_kill=$(now)
for _ in $(seq 1 600); do
  "$bin/dfsadmin" --masters="$master" datanodes | grep "^$victim_id" | grep -q " dead " && break
  sleep 0.05
done
t_dead=$(now)
# Done when every chunk the dead node held has its new copy and no chunk is short (the scan
# figures describe the last scan, so the copies made are what says the repair happened).
for _ in $(seq 1 12000); do
  u="$(status_field under_replicated_chunks)"; f="$(status_field replications_in_flight)"
  d="$(status_field replications_done)"
  [ "$u" = 0 ] && [ "$f" = 0 ] && [ "$d" -ge $((done_before + lost_chunks)) ] && break
  sleep 0.05
done
t_done=$(now)
[ "$(status_field missing_chunks)" = 0 ] || { echo "rereplication: chunks missing" >&2; exit 1; }
t_repl=$(elapsed "$t_dead" "$t_done")

# The data is intact after the repair.
"$bin/dfs" --masters="$master" get /bench "$work/check" >/dev/null
got=$(stat -c %s "$work/check"); rm -f "$work/check"
[ "$got" = $((size_mib << 20)) ] || { echo "rereplication: size mismatch" >&2; exit 1; }

# ---- baseline: cp of the same bytes on the same disk ----
head -c "$lost_bytes" /dev/urandom >"$work/cp-src"
drop_caches
t0=$(now); cp "$work/cp-src" "$work/cp-dst"; sync; t_cp=$(elapsed "$t0" "$(now)")

mbps() { awk -v b="$lost_bytes" -v t="$1" 'BEGIN { printf "%.1f", b / 1e6 / t }'; }
echo
printf 'data put: %d MiB in %d MiB chunks; lost with datanode 0: %d chunks, %.1f MB\n' \
  "$size_mib" "$chunk_mib" "$lost_chunks" "$(awk -v b="$lost_bytes" 'BEGIN { print b / 1e6 }')"
printf 'declared dead %.2f s after the kill (--datanode_dead_ms=%d)\n' \
  "$(elapsed "$t_kill" "$t_dead")" "$dead_ms"
printf '%-40s %10s %10s\n' "workload" "seconds" "MB/s"
printf '%-40s %10.2f %10s\n' "re-replication (dead -> fully replicated)" "$t_repl" "$(mbps "$t_repl")"
printf '%-40s %10.2f %10s\n' "cp + sync, same bytes, same disk" "$t_cp" "$(mbps "$t_cp")"
awk -v r="$t_repl" -v c="$t_cp" 'BEGIN { printf "ratio re-replication/cp throughput: %.2f\n", c / r }'
