#!/usr/bin/env bash
# Benchmark (not a test): put and get a file (default 1 GiB) through a fresh local cluster and
# compare with `cp` writing the same file three times on the same disk (what RF=3 costs locally),
# all in one run. The cluster: 3 masters (one Raft group), 3 datanodes, RF 3. Prints MB/s and ratios.
#
#   tools/bench/putget.sh [SIZE_MIB]
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
size_mib="${1:-1024}"
bench_init putget

mbps() { awk -v mib="$size_mib" -v t="$1" 'BEGIN { printf "%.1f", mib * 1.048576 / t }'; }

head -c "$((size_mib << 20))" /dev/urandom >"$work/src"
sync

# Baseline: three durable copies with cp on the same disk.
t0=$(now)
for i in 1 2 3; do cp "$work/src" "$work/copy$i"; done
sync
t_cp=$(since "$t0")
rm -f "$work"/copy*

cluster_up pg 3 3
t0=$(now); "$bin/dfs" --masters="$masters" put "$work/src" /bench; t_put=$(since "$t0")
drop_caches
t0=$(now); "$bin/dfs" --masters="$masters" get /bench "$work/dst"; t_get=$(since "$t0")
cmp -s "$work/src" "$work/dst" || { echo "bench: data mismatch" >&2; exit 1; }

printf '%-28s %10s %10s\n' "workload (${size_mib} MiB)" "seconds" "MB/s"
printf '%-28s %10.2f %10s\n' "cp x3 + sync (baseline)" "$t_cp" "$(mbps "$t_cp")"
printf '%-28s %10.2f %10s\n' "dfs put (RF=3, fsync)" "$t_put" "$(mbps "$t_put")"
printf '%-28s %10.2f %10s\n' "dfs get (CRC verified)" "$t_get" "$(mbps "$t_get")"
awk -v c="$t_cp" -v p="$t_put" -v g="$t_get" 'BEGIN {
  printf "ratio put/cp-x3 throughput: %.2f\nratio get/cp-x3 throughput: %.2f\n", c / p, c / g }'
