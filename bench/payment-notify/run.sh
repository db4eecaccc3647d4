#!/usr/bin/env bash
# bench/run payment-notify [driver flags]: channel notification handling of orderly-payment, with
# orderly-order-core and orderly-inventory running and consuming its events.
#   notifies_per_s         payments whose signed notification was verified, deduplicated and
#                          applied per second, in a burst of PAYMENTS payments x (1 + DUPLICATES)
#                          notifications from CONCURRENCY senders
#   notify_to_paid_p50/99  from a notification leaving the channel to its order's paid_at in
#                          order-core, LATENCY_PAYMENTS payments notified at LATENCY_RATE/s
#   double_applied         payments / events applied more than once, counted in the databases
# The driver starts the four binaries itself (free ports, temporary databases, Kafka topics of the
# run) and removes all of them at the end, on failure and on Ctrl-C.
# Prints a report; the last line is JSON.
#
# Environment: ORDERLY_BUILD_DIR (default build), PAYMENTS (1000), DUPLICATES (2), CONCURRENCY
# (32), LATENCY_PAYMENTS (300), LATENCY_RATE (50), LOG_LEVEL (info).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${ORDERLY_BUILD_DIR:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
export ORDERLY_BUILD_DIR="$BUILD"  # the driver finds the service binaries here

log() { echo "[payment-notify] $*" >&2; }

"$ROOT/scripts/bootstrap" >/dev/null
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log "building the services and the driver in ${BUILD#"$ROOT"/}"
cmake --build "$BUILD" --target orderly-payment orderly-channel-sandbox orderly-order-core orderly-inventory \
  orderly-payment-notify-bench -- -j2 >/dev/null
"$ROOT/deploy/local/start" all >/dev/null
. "$ROOT/deploy/local/env.sh"

OUT="$(mktemp)"
DRIVER_PID=""
cleanup() {
  # The driver stops its services and drops its databases when told to (SIGTERM).
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  rm -f "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# librdkafka's own debug lines ("%7|...") are noise here.
"$BUILD/bench/payment-notify/orderly-payment-notify-bench" \
  --payments "${PAYMENTS:-1000}" --duplicates "${DUPLICATES:-2}" --concurrency "${CONCURRENCY:-32}" \
  --latency_payments "${LATENCY_PAYMENTS:-300}" --latency_rate "${LATENCY_RATE:-50}" \
  --log_level "${LOG_LEVEL:-info}" "$@" >"$OUT" 2> >(grep -v '^%[0-9]|' >&2) &
DRIVER_PID=$!
rc=0; wait "$DRIVER_PID" || rc=$?
DRIVER_PID=""
[ $rc -eq 0 ] || { log "driver failed (exit $rc)"; exit 1; }

val() { grep -m1 "^$1=" "$OUT" | cut -d= -f2; }
DOUBLE="$(val double_applied)"
printf '{"notifies_per_s": %s, "notify_to_paid_p50_ms": %s, "notify_to_paid_p99_ms": %s, "double_applied": %s, "notifications_per_s": %s, "burst_notify_to_paid_p50_ms": %s, "burst_notify_to_paid_p99_ms": %s, "latency_rate": %s, "not_applied": %s}\n' \
  "$(val notifies_per_s)" "$(val notify_to_paid_p50_ms)" "$(val notify_to_paid_p99_ms)" "$DOUBLE" \
  "$(val notifications_per_s)" "$(val burst_notify_to_paid_p50_ms)" "$(val burst_notify_to_paid_p99_ms)" \
  "$(val latency_rate)" "$(val not_applied)"
[ "$DOUBLE" = 0 ] && [ "$(val not_applied)" = 0 ]
