#!/usr/bin/env bash
# The test command: installs what is missing, builds (release preset) and
# runs the whole suite. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
preset=${BATCHD_PRESET:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)" "$@"
