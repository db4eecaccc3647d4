#!/usr/bin/env bash
# bench/run outbox [throughput_seconds] [latency_seconds] [writers (8)] [stmt: one-statement writers]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${ORDERLY_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/bootstrap" >/dev/null
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target outbox_bench >/dev/null
"$ROOT/deploy/local/start" all >/dev/null
. "$ROOT/deploy/local/env.sh"
exec "$BUILD/bench/outbox/outbox_bench" "$@" 2> >(grep -v '^%[0-9]|' >&2)
