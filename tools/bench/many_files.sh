#!/usr/bin/env bash
# Benchmark (not a test): master memory and metadata bytes on disk per file, up to FILES files.
# Starts a fresh group of 3 masters and 3 datanodes and runs dfs-many-files (tools/bench/
# many_files.cc: THREADS clients create FILES files, PER_DIR to a directory, through the client
# library). At every CHECKPOINT files it prints, for each master, VmRSS and the bytes its data
# directory (metadata LevelDB + Raft log) takes on disk, per file; at the end the RSS growth from
# the first checkpoint to the last (issue 9: flat within 20 % from 100k to 1M files); then
# LOOKUPS path lookups of random files (one RPC each: the metadata store read at random places)
# and the masters' RSS after them.
#
#   tools/bench/many_files.sh [--files N] [--per-dir N] [--threads N] [--size BYTES]
#                             [--checkpoint N] [--max-seconds S] [--lookups N]
# Defaults: 1000000 files, 1000 per dir, 8 threads, empty files, checkpoints every 100000, 20000
# lookups, no time limit (with one, the run stops at the first checkpoint after it and says how
# far it got).
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
files=1000000; per_dir=1000; threads=8; size=0; checkpoint=100000; max_seconds=0; lookups=20000
while (($#)); do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --per-dir) per_dir="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --checkpoint) checkpoint="$2"; shift 2 ;;
    --max-seconds) max_seconds="$2"; shift 2 ;;
    --lookups) lookups="$2"; shift 2 ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
bench_init many-files
cluster_up mf 3 3
leader="$(leader_index)"
pids="" dirs=""
for i in 0 1 2; do
  pids="$pids${pids:+,}$(master_pid "$i")"; dirs="$dirs${dirs:+,}$(master_dir "$i")"
done
echo "load before: $(uptime)"
echo "masters $masters (leader: master $leader); $files files, $per_dir per dir, $threads threads, $size bytes each"
"$bin/dfs-many-files" --masters "$masters" --files "$files" --per_dir "$per_dir" \
  --threads "$threads" --size "$size" --checkpoint "$checkpoint" --max_seconds "$max_seconds" --lookups "$lookups" \
  --master_pids "$pids" --master_dirs "$dirs" --leader "$leader" | tee "$work/out.txt"
now_leader="$(leader_index || true)"
[ "$now_leader" = "$leader" ] || echo "note: the leader changed during the run (now master $now_leader)"
echo "load after: $(uptime)"
echo
printf '%10s %8s %10s %14s %14s %16s\n' files seconds "files/s" "leader RSS MiB" "leader disk MiB" "disk bytes/file"
awk '$1 == "checkpoint" && / leader=1 / {
  for (i = 5; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  printf "%10d %8.0f %10.0f %14.1f %14.1f %16.1f\n", $2, $3, $4, f["rss_kib"] / 1024, f["disk_bytes"] / 1048576, f["disk_bytes_per_file"] }' "$work/out.txt"
grep -E '^(rss_growth|lookups|after_lookups)' "$work/out.txt"
