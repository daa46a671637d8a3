#!/usr/bin/env bash
# Benchmark (not a test): the file-system workload of issue 9 on three file systems in one run —
#   local      a directory on the local disk,
#   passthru   libfuse's passthrough_ll example over a local directory (what FUSE itself costs;
#              built here from /usr/share/doc/libfuse3-dev/examples),
#   dfs        a fresh cluster of 3 masters (one Raft group) and DATANODES datanodes, RF 3,
#              mounted with dfs-fuse —
# alternating targets phase by phase (local, passthru, dfs, local, ...) for REPS repetitions, and
# prints the median of each figure, the dfs/passthru ratio and the MooseFS bar from the issue.
#
# Figures (the workload driver is dfs-fs-workload, tools/bench/fs_workload.cc):
#   write      sequential write of SIZE_MIB in 1 MiB blocks, fsync at the end (MB/s)
#   read       sequential read of it in 1 MiB blocks, cold: page cache dropped and both FUSE
#              file systems unmounted and mounted again before the reads (MB/s)
#   create stat readsmall rename unlink
#              FILES files of 4 KiB in one directory: create+write+close, stat, open+read+close,
#              rename, unlink (operations/s)
#   mkdir rmdir  DIRS directories in one directory (operations/s)
#   cp         `cp` of a CP_MIB file from the local disk (in the page cache) and `sync FILE`
#              (seconds; the ratio is "times slower than passthru")
#   fsynccreate  FSYNC_FILES files: create+write 4 KiB+fsync+close (operations/s)
#
#   tools/bench/fuse_bench.sh [--size MIB] [--files N] [--dirs N] [--fsync-files N] [--cp MIB]
#                             [--reps R] [--datanodes N]
# Defaults (the issue's): 1024 MiB, 5000 files, 2000 dirs, 5000 fsync'd files, cp of SIZE_MIB,
# 3 repetitions, 3 datanodes; also from the environment as SIZE_MIB FILES DIRS FSYNC_FILES CP_MIB
# REPS DATANODES. A quick run: tools/bench/fuse_bench.sh --size 64 --files 500 --dirs 200 --reps 1
#
# MASTER_FLAGS: extra dfs-master flags for the dfs cluster, split on spaces (e.g.
# MASTER_FLAGS=--lease_reads: reads served under the leader's lease, an opt-in).
# Uses binaries from $DFS_BUILD_DIR/bin (default build/bin; built with tools/setup.sh when
# DFS_BUILD_DIR is unset). Drops the page cache when root. BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
size_mib="${SIZE_MIB:-1024}"; files="${FILES:-5000}"; dirs="${DIRS:-2000}"
fsync_files="${FSYNC_FILES:-}"; cp_mib="${CP_MIB:-}"; reps="${REPS:-3}"; datanodes="${DATANODES:-3}"
while (($#)); do
  case "$1" in
    --size) size_mib="$2"; shift 2 ;;
    --files) files="$2"; shift 2 ;;
    --dirs) dirs="$2"; shift 2 ;;
    --fsync-files) fsync_files="$2"; shift 2 ;;
    --cp) cp_mib="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --datanodes) datanodes="$2"; shift 2 ;;
    *) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
fsync_files="${fsync_files:-$files}"; cp_mib="${cp_mib:-$size_mib}"
bench_init fuse-bench
workload="$bin/dfs-fs-workload"
[ -x "$workload" ] || { echo "bench: $workload missing (ninja -C build dfs-fs-workload)" >&2; exit 1; }

echo "load before: $(uptime)"
passthru_build
declare -A dir=([local]="$work/local" [passthru]="$work/passthru" [dfs]="$work/dfs")
targets=(local passthru dfs)
mkdir -p "$work/local"
passthru_mount "$work/passthru" "$work/passthru-backing"
read -r -a master_flags <<<"${MASTER_FLAGS:-}"
cluster_up fb 3 "$datanodes" ${master_flags[@]+"${master_flags[@]}"}
echo "dfs: 3 masters, $datanodes datanodes, RF 3, master flags: ${MASTER_FLAGS:-(defaults)}"
fuse_mount "$work/dfs"
remount() {  # remount TARGET: the FUSE targets start with cold client caches
  case "$1" in
    passthru) fuse_unmount "$work/passthru"; passthru_mount "$work/passthru" "$work/passthru-backing" ;;
    dfs) fuse_unmount "$work/dfs"; fuse_mount "$work/dfs" ;;
  esac
}

# cp's source: on the local disk, read once so every target copies it from memory alike.
"$workload" write "$work/cp-src" "$cp_mib" >/dev/null
cat "$work/cp-src" >/dev/null

declare -A result   # result[target,figure] = space-separated values, one per repetition
add() { result[$1,$2]="${result[$1,$2]:-} $3"; }
run_workload() {  # run_workload TARGET ARGS...: records every "figure value" line it prints
  local t="$1" out figure value
  shift
  out="$("$workload" "$@")"  # a failed call stops the run (set -e)
  while read -r figure value; do add "$t" "$figure" "$value"; done <<<"$out"
}
for rep in $(seq 1 "$reps"); do
  echo "repetition $rep/$reps ($(date -u +%H:%M:%S))" >&2
  for t in "${targets[@]}"; do run_workload "$t" write "${dir[$t]}/big" "$size_mib"; done
  drop_caches
  for t in "${targets[@]}"; do remount "$t"; done
  for t in "${targets[@]}"; do run_workload "$t" read "${dir[$t]}/big"; rm -f "${dir[$t]}/big"; done
  for t in "${targets[@]}"; do
    t0=$(now)
    cp "$work/cp-src" "${dir[$t]}/cp"
    sync "${dir[$t]}/cp"
    add "$t" cp "$(since "$t0")"
    cmp -s "$work/cp-src" "${dir[$t]}/cp" || { echo "bench: $t: cp copy differs" >&2; exit 1; }
    rm -f "${dir[$t]}/cp"
  done
  for t in "${targets[@]}"; do run_workload "$t" small "${dir[$t]}/small$rep" "$files"; done
  for t in "${targets[@]}"; do run_workload "$t" dirs "${dir[$t]}/dirs$rep" "$dirs"; done
  for t in "${targets[@]}"; do run_workload "$t" fsync-create "${dir[$t]}/fsync$rep" "$fsync_files"; done
done
echo "load after: $(uptime)"

# figure label bar (higher is better, except cp: seconds, ratio = dfs/passthru, bar = at most)
figures=(
  "write|seq write ${size_mib} MiB, 1 MiB + fsync (MB/s)|0.19"
  "read|seq read ${size_mib} MiB cold (MB/s)|0.46"
  "create|create+write+close 4 KiB x${files} (/s)|0.22"
  "stat|stat x${files} (/s)|0.34"
  "readsmall|read 4 KiB x${files} (/s)|0.23"
  "rename|rename x${files} (/s)|0.22"
  "unlink|unlink x${files} (/s)|0.22"
  "mkdir|mkdir x${dirs} (/s)|0.52"
  "rmdir|rmdir x${dirs} (/s)|0.47"
  "cp|cp ${cp_mib} MiB in + sync (s)|4.2"
  "fsynccreate|create+write+fsync+close x${fsync_files} (/s)|0.14"
)
echo
echo "medians of $reps alternating repetitions; 3 masters, $datanodes datanodes, RF 3"
printf '%-44s %10s %10s %10s %8s %8s %5s\n' figure local passthru dfs dfs/pt bar ok
for f in "${figures[@]}"; do
  IFS='|' read -r key label bar <<<"$f"
  # shellcheck disable=SC2086  # one word per repetition
  l=$(median ${result[local,$key]:-})
  # shellcheck disable=SC2086
  p=$(median ${result[passthru,$key]:-})
  # shellcheck disable=SC2086
  d=$(median ${result[dfs,$key]:-})
  awk -v k="$key" -v lab="$label" -v l="$l" -v p="$p" -v d="$d" -v bar="$bar" 'BEGIN {
    if (k == "cp") { r = d / p; ok = r <= bar ? "yes" : "no"; barfmt = sprintf("%.1fx", bar); rfmt = sprintf("%.2fx", r) }
    else { r = d / p; ok = r >= bar ? "yes" : "no"; barfmt = sprintf("%.2f", bar); rfmt = sprintf("%.3f", r) }
    fmt = k == "cp" ? "%-44s %10.2f %10.2f %10.2f %8s %8s %5s\n" : "%-44s %10.1f %10.1f %10.1f %8s %8s %5s\n"
    printf fmt, lab, l, p, d, rfmt, barfmt, ok }'
done
echo
echo "every repetition (target figure values...):"
for t in "${targets[@]}"; do
  for f in "${figures[@]}"; do key="${f%%|*}"; echo "  $t $key${result[$t,$key]:-}"; done
done
