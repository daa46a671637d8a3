#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test
# (labels unit, sim, integration, fuse, fault). Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
"$repo/tools/setup.sh"
cd "${DFS_BUILD_DIR:-$repo/build}"
ctest --output-on-failure --timeout 900 "$@"
