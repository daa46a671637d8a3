#!/usr/bin/env bash
# Installs the Debian packages dfs needs (only the missing ones) and builds everything into
# build/ (binaries in build/bin). Safe to run again: it only does what is left to do.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${DFS_BUILD_DIR:-$repo/build}"

packages=(build-essential cmake ninja-build ccache pkg-config libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler libabsl-dev libleveldb-dev libsnappy-dev libfuse3-dev fuse3
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libssl-dev openssl libisal-dev
  iproute2 iptables util-linux libnetfilter-queue-dev
  clang libclang-rt-14-dev)  # the fuzz build (tools/fuzz.sh): clang with libFuzzer
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# tools/fuzz.sh wants the packages only; it makes its own clang build.
[ "${DFS_SETUP_INSTALL_ONLY:-}" = 1 ] && exit 0

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# Paths relative to the repository, so another clone of it reuses the cache.
export CCACHE_BASEDIR="$repo"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j"$(nproc)" >&2
