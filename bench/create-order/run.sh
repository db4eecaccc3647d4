#!/usr/bin/env bash
# CreateOrder benchmark: real orderly-order-core + orderly-inventory (temporary databases, free
# ports) with Redis, PostgreSQL and the order-core outbox relay, driven through gRPC by
# orderly-create-order-bench (10,000 SKUs, orders of 1-5 lines, every 10th order double-clicked):
#   max      closed loop, CONCURRENCY clients: orders/s and latency
#   rate     open loop at RATE orders/s (default 500): p50/p99 from each request's scheduled start
#   raw      pgbench running the same SQL statements CreateOrder issues on both databases, at the
#            same time, on copies of the schemas: the raw database limit in orders/s
# plus peak RSS of each service, duplicates and oversold units (both must be 0).
# Prints a report; the last line is JSON.
#
# Environment: ORDERLY_BUILD_DIR (default build, the tree scripts/test and scripts/up use), CONCURRENCY (64), MAX_SECONDS (15),
# RATE (500), RATE_SECONDS (15), PGBENCH_CLIENTS (16), PGBENCH_SECONDS (15), RELAY (true),
# PG_POOL (16, database connections per service), LOW_RATE (100: an extra open-loop phase below
# this machine's capacity, so latency without queueing is reported next to the 500/s figures).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/create-order"
. "$ROOT/deploy/local/env.sh"
BUILD="${ORDERLY_BUILD_DIR:-$ROOT/build}"
CONCURRENCY="${CONCURRENCY:-64}"
MAX_SECONDS="${MAX_SECONDS:-15}"
RATE="${RATE:-500}"
RATE_SECONDS="${RATE_SECONDS:-15}"
PGBENCH_CLIENTS="${PGBENCH_CLIENTS:-16}"
PGBENCH_SECONDS="${PGBENCH_SECONDS:-15}"
RELAY="${RELAY:-true}"
PG_POOL="${PG_POOL:-16}"
LOW_RATE="${LOW_RATE:-100}"

log() { echo "[create-order] $*" >&2; }

if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log "building orderly-order-core, orderly-inventory and the driver"
cmake --build "$BUILD" --target orderly-order-core orderly-inventory orderly-create-order-bench -- -j2 >/dev/null
ORDER_BIN="$BUILD/services/order-core/orderly-order-core"
INV_BIN="$BUILD/services/inventory/orderly-inventory"
DRIVER="$BUILD/bench/create-order/orderly-create-order-bench"
if [ "$RELAY" = true ]; then
  "$ROOT/deploy/local/start" pg redis kafka >/dev/null  # the relay publishes (to a topic of its own)
else
  "$ROOT/deploy/local/start" pg redis >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
RUN="$(date +%s)_$$"
ODB="bench_order_$RUN"; IDB="bench_inventory_$RUN"
RAW_ODB="bench_raw_order_$RUN"; RAW_IDB="bench_raw_inventory_$RUN"
PSQL=(psql "$ORDERLY_PG_ADMIN_DSN" -v ON_ERROR_STOP=1 -qAt)
DSN_OF() { echo "host=$ORDERLY_PG_HOST port=$ORDERLY_PG_PORT user=$ORDERLY_PG_USER dbname=$1"; }
WORK="$(mktemp -d)"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "$ODB" "$IDB" "$RAW_ODB" "$RAW_IDB"; do
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for d in "$ODB" "$IDB" "$RAW_ODB" "$RAW_IDB"; do "${PSQL[@]}" -c "CREATE DATABASE $d" >/dev/null; done

# order-core's relay publishes to a topic of this run, never to the shared orderly.order.v1: a
# run's tens of thousands of OrderCreated there made the next scripts/up's inventory consumer work
# through them before the demo's OrderPaid (the demo failed at its stock-confirmed step).
ORDER_TOPIC="orderly.order.v1.bench_create_$$_$(date +%s)"
if [ "$RELAY" = true ]; then
  java -Xmx128m -cp "$ORDERLY_KAFKA_LIBS/*" "$ROOT/deploy/local/KafkaTopics.java" \
    "$ORDERLY_KAFKA_BROKERS" "$ORDER_TOPIC:6" >"$WORK/topic.log" 2>&1 ||
    { log "cannot create $ORDER_TOPIC: $(tail -3 "$WORK/topic.log")"; exit 1; }
fi

IG="$(free_port)"; IH="$(free_port)"; OG="$(free_port)"; OH="$(free_port)"
log "starting orderly-inventory on :$IG and orderly-order-core on :$OG"
"$INV_BIN" --grpc_port "$IG" --http_port "$IH" --pg_database "$IDB" --pg_pool_size "$PG_POOL" \
  --relay_enabled false --consumer_enabled false --log_level error >"$WORK/inventory.log" 2>&1 &
INV_PID=$!; PIDS+=("$INV_PID")
"$ORDER_BIN" --grpc_port "$OG" --http_port "$OH" --pg_database "$ODB" --pg_pool_size "$PG_POOL" \
  --inventory_target "127.0.0.1:$IG" --relay_enabled "$RELAY" --consumer_enabled false \
  --order_topic "$ORDER_TOPIC" \
  --log_level error >"$WORK/order.log" 2>&1 &
ORDER_PID=$!; PIDS+=("$ORDER_PID")
for port in "$IH" "$OH"; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { log "a service did not become ready"; tail -20 "$WORK"/*.log >&2; exit 1; }
done

log "seeding 10,000 SKUs, then $MAX_SECONDS s closed loop ($CONCURRENCY clients) and $RATE_SECONDS s at $RATE orders/s"
"$DRIVER" --order_target "127.0.0.1:$OG" --inventory_target "127.0.0.1:$IG" \
  --concurrency "$CONCURRENCY" --max_seconds "$MAX_SECONDS" --rate "$RATE" \
  --rate_seconds "$RATE_SECONDS" --low_rate "$LOW_RATE" --run_id "$RUN" >"$WORK/driver.out" 2>"$WORK/driver.err" || {
  log "driver failed"; cat "$WORK/driver.err" >&2; tail -20 "$WORK/order.log" >&2; exit 1; }
cat "$WORK/driver.out" >&2
val() { grep -m1 "^$1=" "$WORK/driver.out" | cut -d= -f2; }
rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
ORDER_RSS="$(rss_mb "$ORDER_PID")"; INV_RSS="$(rss_mb "$INV_PID")"
DB_ORDERS="$(psql "$(DSN_OF "$ODB")" -qAt -c "SELECT count(*) FROM orders WHERE is_top_level")"
DUPLICATES=$(( DB_ORDERS - $(val distinct_orders) + $(val duplicate_mismatch) ))
[ "$DUPLICATES" -lt 0 ] && DUPLICATES=$(( - DUPLICATES ))
OUTBOX_BACKLOG="$(psql "$(DSN_OF "$ODB")" -qAt -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")"

kill "$ORDER_PID" "$INV_PID" 2>/dev/null || true
wait "$ORDER_PID" 2>/dev/null || true; wait "$INV_PID" 2>/dev/null || true
PIDS=()

# --- the raw limit: the same statements through pgbench on copies of both schemas -----------
log "pgbench: CreateOrder's statements on both databases at once, $PGBENCH_CLIENTS clients each"
for f in "$ROOT"/services/order-core/migrations/*.sql "$ROOT"/libs/events/migrations/*.sql; do
  psql "$(DSN_OF "$RAW_ODB")" -v ON_ERROR_STOP=1 -q -f "$f" >/dev/null
done
for f in "$ROOT"/services/inventory/migrations/*.sql "$ROOT"/libs/events/migrations/*.sql; do
  psql "$(DSN_OF "$RAW_IDB")" -v ON_ERROR_STOP=1 -q -f "$f" >/dev/null
done
psql "$(DSN_OF "$RAW_IDB")" -v ON_ERROR_STOP=1 -q >/dev/null <<'SQL'
INSERT INTO skus (sku_id, product_id, product_name, price_minor, currency_code, sale_status,
                  merchant_id, warehouse_id)
SELECT 'bench-sku-' || g, 'p' || g, 'Bench ' || g, 1999, 'CNY', 1, 'm1', 'w1'
FROM generate_series(0, 9999) g;
INSERT INTO stock_buckets (sku_id, bucket_no, available)
SELECT 'bench-sku-' || g, 0, 100000000 FROM generate_series(0, 9999) g;
SQL
{ echo '\set oid random(1, 4000000000000000000)'; echo '\set c1 :oid + 1'; echo '\set c2 :oid + 2';
  echo '\set c3 :oid + 3'; echo '\set buyer random(1, 100000)'; cat "$HERE/order_tx.sql"; } >"$WORK/order_tx.sql"
{ echo '\set oid random(1, 4000000000000000000)'; echo '\set s1 random(0, 9997)';
  echo '\set s2 :s1 + 1'; echo '\set s3 :s1 + 2'; cat "$HERE/inventory_tx.sql"; } >"$WORK/inventory_tx.sql"
pgbench "$(DSN_OF "$RAW_ODB")" -n -f "$WORK/order_tx.sql" -c "$PGBENCH_CLIENTS" -j 1 -T "$PGBENCH_SECONDS" >"$WORK/pg_order.out" 2>&1 &
P1=$!
pgbench "$(DSN_OF "$RAW_IDB")" -n -f "$WORK/inventory_tx.sql" -c "$PGBENCH_CLIENTS" -j 1 -T "$PGBENCH_SECONDS" >"$WORK/pg_inv.out" 2>&1 &
P2=$!
wait "$P1" || { cat "$WORK/pg_order.out" >&2; exit 1; }
wait "$P2" || { cat "$WORK/pg_inv.out" >&2; exit 1; }
tps() { grep -m1 -E '^tps = ' "$1" | sed -E 's/tps = ([0-9.]+).*/\1/'; }
RAW_O="$(tps "$WORK/pg_order.out")"; RAW_I="$(tps "$WORK/pg_inv.out")"
RAW="$(python3 -c "print(round(min($RAW_O, $RAW_I), 1))")"

OPS="$(val orders_per_s)"
RATIO="$(python3 -c "print(round($OPS / $RAW, 3) if $RAW > 0 else 0)")"
MAX_RSS="$(python3 -c "print(max($ORDER_RSS, $INV_RSS))")"
cat >&2 <<REPORT

CreateOrder end to end (order-core + inventory + Redis + PostgreSQL + outbox$( [ "$RELAY" = true ] && echo " + relay to Kafka"))
  closed loop, $CONCURRENCY clients:  $OPS orders/s   p50 $(val max_p50_ms) ms   p99 $(val max_p99_ms) ms   errors $(val max_errors)
  open loop at $LOW_RATE/s:        achieved $(val rate_low_achieved)/s   p50 $(val p50_ms_at_low) ms   p99 $(val p99_ms_at_low) ms   errors $(val rate_low_errors)
  open loop at $RATE/s:        achieved $(val rate_500_achieved)/s   p50 $(val p50_ms_at_500) ms   p99 $(val p99_ms_at_500) ms   errors $(val rate_500_errors)
  raw SQL (pgbench, both DBs at once): order-core $RAW_O tx/s, inventory $RAW_I tx/s -> $RAW orders/s
  ratio to raw: $RATIO
  peak RSS: order-core $ORDER_RSS MB, inventory $INV_RSS MB
  orders in the database: $DB_ORDERS, distinct orders acknowledged: $(val distinct_orders), double-click pairs: $(val duplicate_pairs)
  duplicates: $DUPLICATES   oversold: $(val oversold)   unpublished outbox rows at the end: $OUTBOX_BACKLOG
REPORT
printf '{"orders_per_s": %s, "p50_ms_at_500": %s, "p99_ms_at_500": %s, "low_rate": %s, "p50_ms_at_low_rate": %s, "p99_ms_at_low_rate": %s, "raw_sql_orders_per_s": %s, "ratio_to_raw": %s, "max_rss_mb": %s, "order_core_rss_mb": %s, "inventory_rss_mb": %s, "duplicates": %s, "oversold": %s}\n' \
  "$OPS" "$(val p50_ms_at_500)" "$(val p99_ms_at_500)" "$LOW_RATE" "$(val p50_ms_at_low)" "$(val p99_ms_at_low)" "$RAW" "$RATIO" "$MAX_RSS" "$ORDER_RSS" "$INV_RSS" "$DUPLICATES" "$(val oversold)"
