#!/usr/bin/env bash
# Builds the clang fuzz build (build-fuzz/: ASan + UBSan + libFuzzer, only the fuzz targets and
# the libraries they use) and runs every libFuzzer target of tests/fuzz for SECONDS each
# (default 20) from its seed corpus (tests/fuzz/corpus/<target>/), with leak detection.
#   tools/fuzz.sh [SECONDS] [TARGET...]
# New inputs collect in build-fuzz/corpus/<target>/ (never in the source tree); a crash is saved
# as build-fuzz/artifacts/<target>/crash-* and makes the script fail. Reproduce one with
#   build-fuzz/bin/<target> build-fuzz/artifacts/<target>/crash-...
# and, once fixed, copy it into tests/fuzz/corpus/<target>/ as a regression seed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${DFS_FUZZ_BUILD_DIR:-$repo/build-fuzz}"
seconds="${1:-20}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(state_machine_fuzz chunk_reader_fuzz datanode_service_fuzz master_request_fuzz)
fi

DFS_SETUP_INSTALL_ONLY=1 "$repo/tools/setup.sh"

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$repo"
# With -g, ccache would hash the build directory's absolute path; without it a fresh clone (CI)
# reuses the objects of any earlier clone. Only debug-info paths can differ, which fuzzing ignores.
export CCACHE_NOHASHDIR=1
start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDFS_FUZZ=ON -DDFS_TEST_DIRS=fuzz >/dev/null
fi
ninja -C "$build" -j"$(nproc)" "${targets[@]}" >&2
echo "fuzz: built in $(($(date +%s) - start)) s" >&2

# Chunk stores and state machines of the targets (tmpfs when there is one: chunk writes fsync);
# a crash skips the targets' own clean-up, this does not.
scratch_base="${TMPDIR:-/tmp}"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch_base=/dev/shm; fi
DFS_FUZZ_SCRATCH="$(mktemp -d "$scratch_base/dfs-fuzz-run.XXXXXX")"
export DFS_FUZZ_SCRATCH
trap 'rm -rf "$DFS_FUZZ_SCRATCH"' EXIT

passed=0
failed=0
summary=()
for target in "${targets[@]}"; do
  mkdir -p "$build/corpus/$target" "$build/artifacts/$target"
  log="$build/artifacts/$target/last-run.log"
  if "$build/bin/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target/" \
      "$build/corpus/$target" "$repo/tests/fuzz/corpus/$target" >"$log" 2>&1; then
    passed=$((passed + 1))
    result=ok
  else
    failed=$((failed + 1))
    result=FAILED
    tail -n 60 "$log" >&2
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  summary+=("$(printf '%-24s %-7s %10s runs %8s exec/s' "$target" "$result" "${runs:-?}" "${speed:-?}")")
done
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed in $(($(date +%s) - start)) s"
((failed == 0))
