#!/usr/bin/env bash
# bench/run json-rows [iterations (20000)]: what writing CreateOrder's rows as JSON costs with
# libs/pg JsonRows (hand-written) and with nlohmann-json, per order. No servers needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${ORDERLY_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/bootstrap" >/dev/null
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target json_rows_bench >/dev/null
exec "$BUILD/bench/json-rows/json_rows_bench" "$@"
