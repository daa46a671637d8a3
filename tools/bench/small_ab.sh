#!/usr/bin/env bash
# The small-file phases of issue 9's table on two builds, alternating, with dfs-fuse's
# per-operation histograms: which build is faster, and where each one spends its time.
#
#   [FUSE_FLAGS_A=...] [FUSE_FLAGS_B=...] tools/bench/small_ab.sh BUILD_A BUILD_B [FILES] [REPS]
#
# FUSE_FLAGS_A / FUSE_FLAGS_B: extra dfs-fuse flags for that side, so one build can be compared
# with itself under two settings (e.g. FUSE_FLAGS_A=--meta_cache_grace_ms=0).
# Each repetition starts a fresh cluster (3 masters, 3 datanodes, RF 3) and mount for A, runs
#   dfs-fs-workload small DIR FILES; dirs DIR FILES; fsync-create DIR FILES
# reads dfs_fuse_op_duration_seconds and dfs_client_write_stage_seconds from the mount's
# /metrics, stops everything, then does the same for B. Prints every run's phase rates, the
# median of each phase per build, and per build the count and mean milliseconds of each FUSE
# operation and write stage in its last repetition. Only 127.0.0.1 is used;
# every process is stopped by PID (tools/bench/lib.sh).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [FILES] [REPS]" >&2; exit 2; }
build_a="$(cd "$1" && pwd)"
build_b="$(cd "$2" && pwd)"
files="${3:-300}"
reps="${4:-3}"
DFS_BUILD_DIR="$build_a"
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init small-ab

declare -A rates  # "label phase" -> space-separated rates
run_once() {  # run_once LABEL BUILD REP EXTRA_FUSE_FLAGS
  local label="$1" rep="$3" port out phase rate
  local -a extra
  read -r -a extra <<<"${4:-}"
  bin="$2/bin"
  cluster_up "$label$rep" 3 3
  port="$(free_port)"
  fuse_mount_flags=(--http_listen="127.0.0.1:$port" "${extra[@]}")
  fuse_mount "$work/mnt-$label$rep"
  out="$work/$label$rep.out"
  {
    "$bin/dfs-fs-workload" small "$work/mnt-$label$rep/small" "$files"
    "$bin/dfs-fs-workload" dirs "$work/mnt-$label$rep/dirs" "$files"
    "$bin/dfs-fs-workload" fsync-create "$work/mnt-$label$rep/fsync" "$files"
  } >"$out"
  curl -s "http://127.0.0.1:$port/metrics" |
    grep '^dfs_\(fuse_op_duration\|client_write_stage\)_seconds_\(sum\|count\)' \
    >"$work/$label.metrics" || true
  fuse_unmount "$work/mnt-$label$rep"
  cluster_down
  echo "$label rep $rep: $(tr '\n' ' ' <"$out")"
  while read -r phase rate; do rates["$label $phase"]+="$rate "; done <"$out"
}

for rep in $(seq 1 "$reps"); do
  run_once A "$build_a" "$rep" "${FUSE_FLAGS_A:-}"
  run_once B "$build_b" "$rep" "${FUSE_FLAGS_B:-}"
done

echo
echo "A = $build_a ${FUSE_FLAGS_A:-}"
echo "B = $build_b ${FUSE_FLAGS_B:-}"
printf '%-12s %10s %10s %8s\n' phase "A ops/s" "B ops/s" "B/A"
for phase in create stat readsmall rename unlink mkdir rmdir fsynccreate; do
  # shellcheck disable=SC2086
  a="$(median ${rates["A $phase"]})"
  # shellcheck disable=SC2086
  b="$(median ${rates["B $phase"]})"
  printf '%-12s %10s %10s %8s\n' "$phase" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a }')"
done
for label in A B; do
  echo
  echo "$label: FUSE ops and client write stages of the last repetition (count, mean ms)"
  awk '{
    match($0, /(op|stage)="[^"]*"/); op = substr($0, RSTART, RLENGTH)
    sub(/^op=/, "", op); gsub(/"/, "", op)
    if ($1 ~ /_sum/) sum[op] = $2; else count[op] = $2
  } END { for (op in count) if (count[op] > 0)
    printf "  %-14s %8d %8.3f\n", op, count[op], 1000 * sum[op] / count[op] }' \
    "$work/$label.metrics" | sort -k2 -n -r
done
