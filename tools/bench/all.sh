#!/usr/bin/env bash
# Every issue-9 benchmark, one after the other, each on its own fresh cluster; output to the
# terminal and to OUT (default ${TMPDIR:-/tmp}/dfs-bench-<time>.txt):
#   fuse_bench.sh      the file-system workload: local vs passthrough_ll vs dfs, MooseFS bar
#   putget.sh          put/get of PUTGET_MIB (1024) through the CLI
#   meta.sh            metadata ops/s from 1 and 16 clients through the client library
#   failover.sh        master failover time (kill -9 of the leader -> next successful mutation)
#   rereplication.sh   re-replication MB/s after a datanode is lost
#   many_files.sh      master RSS and on-disk bytes per file up to MANY_FILES (1000000) files
#
#   tools/bench/all.sh [fuse_bench.sh flags...]
# Environment: PUTGET_MIB, META_FILES (2000 per client), FAILOVER_KILLS (5), REREPL_MIB (1024),
# MANY_FILES (1000000), MANY_MAX_SECONDS (0: none), SKIP (names to skip, e.g. "many_files meta").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-${TMPDIR:-/tmp}/dfs-bench-$(date -u +%Y%m%dT%H%M%S).txt}"
if [ -z "${DFS_BUILD_DIR:-}" ]; then "$here/../setup.sh"; export DFS_BUILD_DIR="$here/../../build"; fi
skip=" ${SKIP:-} "
step() {  # step NAME COMMAND...
  local name="$1"
  shift
  [[ "$skip" == *" $name "* ]] && return 0
  echo "==== $name: $* ($(date -u +%H:%M:%S), $(uptime | sed 's/.*load/load/'))" | tee -a "$out"
  "$@" 2>&1 | tee -a "$out"
}
step fuse_bench "$here/fuse_bench.sh" "$@"
step putget "$here/putget.sh" "${PUTGET_MIB:-1024}"
step meta "$here/meta.sh" "${META_FILES:-2000}"
step failover "$here/failover.sh" "${FAILOVER_KILLS:-5}"
step rereplication "$here/rereplication.sh" "${REREPL_MIB:-1024}"
step many_files "$here/many_files.sh" --files "${MANY_FILES:-1000000}" \
  --max-seconds "${MANY_MAX_SECONDS:-0}"
echo "all results in $out"
