#!/usr/bin/env bash
# Benchmark (not a test): the same workloads on three file systems in one run —
#   local      a directory on the local disk,
#   passthru   libfuse's passthrough_ll example mounting a local directory (what FUSE itself
#              costs; built here from the libfuse3-dev examples),
#   dfs        a fresh local dfs cluster (1 master, 4 datanodes, RF 3) mounted with dfs-fuse —
# and prints each workload's rate with the dfs/local and dfs/passthru ratios.
#
# Workloads: sequential write of SIZE_MIB (default 1024) in 1 MiB blocks ending with fsync,
# sequential read of it in 1 MiB blocks after dropping the page cache (when root), and
# FILES (default 5000) files of 4 KiB: create+write, stat, read, rename, unlink.
#
#   tools/bench/fuse_bench.sh [SIZE_MIB [FILES]]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
size_mib="${1:-1024}"
files="${2:-5000}"
"$repo/tools/setup.sh"
bin="${DFS_BUILD_DIR:-$repo/build}/bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/dfs-fuse-bench-XXXXXX")"
examples=/usr/share/doc/libfuse3-dev/examples
python="$(command -v python3)"
pt_pid=""

cleanup() {
  set +e
  if [ -n "$pt_pid" ]; then
    fusermount3 -u "$work/passthru" 2>/dev/null || fusermount3 -u -z "$work/passthru"
    wait "$pt_pid" 2>/dev/null
  fi
  HOME="$work" "$repo/tools/dfs-cluster" down --dir "$work/cluster" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# ---- passthrough_ll from the libfuse examples (shipped as .c, or .c.gz on some releases) ----
mkdir -p "$work/pt-src"
for f in passthrough_ll.c passthrough_helpers.h; do
  if [ -f "$examples/$f" ]; then cp "$examples/$f" "$work/pt-src/"
  elif [ -f "$examples/$f.gz" ]; then zcat "$examples/$f.gz" >"$work/pt-src/$f"
  else echo "bench: $examples/$f not found (install libfuse3-dev)" >&2; exit 1
  fi
done
# shellcheck disable=SC2046
cc -O2 -Wall $(pkg-config fuse3 --cflags) "$work/pt-src/passthrough_ll.c" -o "$work/passthrough_ll" \
  $(pkg-config fuse3 --libs)

# ---- the three file systems ----
mkdir -p "$work/local" "$work/passthru" "$work/passthru-backing"
"$work/passthrough_ll" -f -o source="$work/passthru-backing" "$work/passthru" \
  >"$work/passthru.log" 2>&1 &
pt_pid=$!
HOME="$work" "$repo/tools/dfs-cluster" up --dir "$work/cluster" --mount "$work/dfs" >/dev/null
for _ in $(seq 1 100); do
  grep -q " $work/passthru " /proc/self/mountinfo && break
  sleep 0.05
done
grep -q " $work/passthru " /proc/self/mountinfo || { echo "bench: passthrough_ll did not mount" >&2; exit 1; }
targets=(local passthru dfs)
declare -A dir=([local]="$work/local" [passthru]="$work/passthru" [dfs]="$work/dfs")

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

head -c "$((size_mib << 20))" /dev/urandom >"$work/src"
declare -A result
for t in "${targets[@]}"; do
  d="${dir[$t]}"
  cat "$work/src" >/dev/null  # the source comes from memory, for every target alike
  t0=$(now)
  dd if="$work/src" of="$d/big" bs=1M conv=fsync status=none
  result[$t,write]=$(awk -v mib="$size_mib" -v s="$(since "$t0")" 'BEGIN { printf "%.1f", mib * 1.048576 / s }')
  drop_caches
  t0=$(now)
  dd if="$d/big" of=/dev/null bs=1M status=none
  result[$t,read]=$(awk -v mib="$size_mib" -v s="$(since "$t0")" 'BEGIN { printf "%.1f", mib * 1.048576 / s }')
  cmp -s "$work/src" "$d/big" || { echo "bench: $t: data read back differs" >&2; exit 1; }
  rm -f "$d/big"
  # Small files: one process, one system call sequence per file, timed per phase.
  while read -r phase rate; do result[$t,$phase]="$rate"; done < <("$python" - "$d/small" "$files" <<'EOF'
import os, sys, time
root, n = sys.argv[1], int(sys.argv[2])
os.mkdir(root)
data = os.urandom(4096)
names = [os.path.join(root, "f%05d" % i) for i in range(n)]
def phase(name, fn):
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    print(name, "%.0f" % (n / (time.perf_counter() - t)))
def create(i):
    fd = os.open(names[i], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)
def read(i):
    fd = os.open(names[i], os.O_RDONLY)
    assert os.read(fd, 8192) == data
    os.close(fd)
phase("create", create)
phase("stat", lambda i: os.stat(names[i]))
phase("readsmall", read)
phase("rename", lambda i: os.rename(names[i], names[i] + ".r"))
phase("unlink", lambda i: os.unlink(names[i] + ".r"))
os.rmdir(root)
EOF
)
done

printf '%-34s %12s %12s %12s %9s %9s\n' "workload" "local" "passthru" "dfs" "dfs/loc" "dfs/pt"
row() {  # row LABEL KEY
  printf '%-34s %12s %12s %12s' "$1" "${result[local,$2]}" "${result[passthru,$2]}" "${result[dfs,$2]}"
  awk -v l="${result[local,$2]}" -v p="${result[passthru,$2]}" -v d="${result[dfs,$2]}" \
    'BEGIN { printf " %9.2f %9.2f\n", d / l, d / p }'
}
row "seq write ${size_mib} MiB, 1 MiB (MB/s)" write
row "seq read ${size_mib} MiB, 1 MiB (MB/s)" read
row "create+write 4 KiB x${files} (/s)" create
row "stat x${files} (/s)" stat
row "read 4 KiB x${files} (/s)" readsmall
row "rename x${files} (/s)" rename
row "unlink x${files} (/s)" unlink
echo "(dfs: RF 3 on one machine, every close commits to all replicas with fsync)"
