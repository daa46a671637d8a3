#!/usr/bin/env bash
# Benchmark (not a test): master failover time. Starts a fresh group of 3 masters (and one
# datanode), runs dfs-failover-probe (one client looping on an exclusive create, a Raft-committed
# mutation), and KILLS times: SIGKILL the leader, wait until it is reaped, and measure from the
# kill to the end of the first create that succeeds after the reaping. The killed master is started again
# (same data dir and address) and the group is healthy before the next kill.
# Prints every measurement and the median, plus the median create latency outside failovers.
#
#   tools/bench/failover.sh [KILLS]      (default 5)
#
# Uses binaries from $DFS_BUILD_DIR/bin (default build/bin; built when DFS_BUILD_DIR is unset).
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
kills="${1:-5}"
bench_init failover
cluster_up fo 3 1
"$bin/dfs-failover-probe" --masters "$masters" --out "$work/probe.txt" --seconds 3600 \
  >"$work/probe.log" 2>&1 &
probe=$!
bench_pids+=("$probe")
wait_for_file "$work/probe.txt"
sleep 2

leader_term() {  # the term the current leader reports
  "$bin/dfsadmin" --masters="$masters" raft status 2>/dev/null | awk '$2 == "leader" { print $3; exit }' || true
}
ms=()
for k in $(seq 1 "$kills"); do
  leader=""
  for _ in $(seq 1 100); do leader="$(leader_index)" && break; sleep 0.1; done
  [ -n "$leader" ] || { echo "failover: no leader" >&2; exit 1; }
  pid="$(master_pid "$leader")"
  term="$(leader_term)"
  t_kill=$(date +%s%N)
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  t_dead=$(date +%s%N)
  # The first create that ended after the leader was reaped: one that ends between the kill and
  # that moment may have had its answer on the way already.
  for _ in $(seq 1 600); do
    first=$(awk -v t="$t_dead" '$1 != "fail" && $2 > t { print $2; exit }' "$work/probe.txt")
    [ -n "$first" ] && break
    sleep 0.05
  done
  [ -n "$first" ] || { echo "failover: no create succeeded within 30 s of kill $k" >&2; exit 1; }
  m=$(awk -v a="$t_kill" -v b="$first" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')
  new_term="$(leader_term)"
  if [ -z "$new_term" ] || [ "$new_term" -le "$term" ]; then
    echo "kill $k: master $leader (pid $pid) was not the leader (term $term -> ${new_term:-?}); not counted"
  else
    ms+=("$m")
    echo "kill $k: master $leader (pid $pid, term $term -> $new_term); next successful create after $m ms"
  fi
  master_start "$leader"
  wait_for_file "$(master_dir "$leader").port"
  wait_leader
  sleep 3  # let the restarted master catch up before the next kill
done
kill -TERM "$probe"; wait "$probe" 2>/dev/null || true
fails=$(grep -c '^fail' "$work/probe.txt" || true)
ok=$(grep -vc '^fail' "$work/probe.txt" || true)
# Latency outside failovers: the median of every successful create.
lat=$(awk '$1 != "fail" { print ($2 - $1) / 1e6 }' "$work/probe.txt" | sort -g |
  awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }')
echo
echo "failover time (kill -9 of the leader -> next successful create), $kills kills:"
echo "  each (ms): ${ms[*]}"
echo "  median (ms): $(median "${ms[@]}")"
echo "creates: $ok ok, $fails failed after the client's retries; median create latency $lat ms"
