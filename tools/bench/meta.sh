#!/usr/bin/env bash
# Benchmark (not a test): metadata operations per second (create, stat, rename) through the
# client library, from 1, 16 and 64 concurrent clients, against a 1-master and a 3-master Raft
# group started fresh in this run. The two alternate, REPS times (default 3); prints the median
# ops/s of each and the 3-master/1-master ratio of the medians.
#
#   [REPS=N] [CLIENTS="16 64"] tools/bench/meta.sh [FILES]
#   FILES: files per run (default 2000), split between the clients
set -euo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh"
files="${1:-2000}"
reps="${REPS:-3}"
many="${CLIENTS:-16 64}"  # the concurrent-client counts (the issue asks for 16 or more)
bench_init meta-bench

run() {  # run MASTERS CLIENTS REP -> lines "phase ops seconds ops/s"
  cluster_up "m$1-c$2-r$3" "$1" 0
  "$bin/dfs-meta-load" --masters "$masters" --clients "$2" --files "$((files / $2))"
  cluster_down
}

declare -A rates  # phase,clients,masters -> "ops/s ops/s ..." (one per repetition)
for rep in $(seq 1 "$reps"); do
  for clients in 1 $many; do
    for m in 1 3; do
      run "$m" "$clients" "$rep" >"$work/out"
      while read -r phase _ _ per_second; do
        rates[$phase,$clients,$m]+="$per_second "
      done <"$work/out"
    done
  done
done
declare -A rate
# shellcheck disable=SC2086 # word splitting intended: one argument per repetition
for key in "${!rates[@]}"; do rate[$key]=$(median ${rates[$key]}); done
printf '%-8s %8s %14s %14s %8s\n' phase clients "1 master op/s" "3 masters op/s" ratio
for clients in 1 $many; do
  for phase in create stat rename; do
    one=${rate[$phase,$clients,1]}; three=${rate[$phase,$clients,3]}
    printf '%-8s %8s %14s %14s %8.2f\n' "$phase" "$clients" "$one" "$three" \
      "$(awk -v a="$three" -v b="$one" 'BEGIN { print a / b }')"
  done
done
