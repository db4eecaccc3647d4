#!/usr/bin/env bash
# Flash-sale benchmark: one SKU with STOCK units, ATTEMPTS buy attempts from many concurrent gRPC
# clients, on three paths of a real orderly-inventory (temp database, free ports):
#   redis     FLASH_SALE orders through the Redis Lua gate (winners persisted to PostgreSQL)
#   db        NORMAL orders, one stock row (conditional UPDATE)
#   bucketed  NORMAL orders, the stock spread over BUCKETS rows
# each next to the raw limit measured in the same run: redis-benchmark running the same Lua
# script (EVALSHA) and pgbench running the same conditional UPDATE.
# Prints a report; the last line is JSON.
#
# Environment: ORDERLY_BUILD_DIR (default build, the tree scripts/test and scripts/up use), STOCK (1000), ATTEMPTS (20000),
# CHANNELS (4), INFLIGHT (64), BUCKETS (16), PGBENCH_CLIENTS (16).
# The client keeps CHANNELS x INFLIGHT Reserve calls outstanding (default 256 concurrent buyers). Fewer
# connections with more calls each cost both client and server less per call than 16 x 8 (more
# streams per read and write); CHANNELS=16 INFLIGHT=8 gives the earlier configuration.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$ROOT/deploy/local/env.sh"
BUILD="${ORDERLY_BUILD_DIR:-$ROOT/build}"
STOCK="${STOCK:-1000}"
ATTEMPTS="${ATTEMPTS:-20000}"
CHANNELS="${CHANNELS:-4}"
INFLIGHT="${INFLIGHT:-64}"
BUCKETS="${BUCKETS:-16}"
PGBENCH_CLIENTS="${PGBENCH_CLIENTS:-16}"

log() { echo "[flash-sale] $*" >&2; }

# --- build and servers ---------------------------------------------------------------------
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  log "configuring $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
log "building orderly-inventory and the driver"
cmake --build "$BUILD" --target orderly-inventory orderly-flash-sale-bench -- -j2 >/dev/null
SERVER="$BUILD/services/inventory/orderly-inventory"
DRIVER="$BUILD/bench/flash-sale/orderly-flash-sale-bench"
"$ROOT/deploy/local/start" pg redis >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
GRPC_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
RUN="$(date +%s)_$$"
DB="bench_inventory_$RUN"
PSQL=(psql "$ORDERLY_PG_ADMIN_DSN" -v ON_ERROR_STOP=1 -qAt)
REDIS=(redis-cli -h "$ORDERLY_REDIS_HOST" -p "$ORDERLY_REDIS_PORT")
WORK="$(mktemp -d)"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  "${REDIS[@]}" --scan --pattern "orderly:inventory:fs:{bench-$RUN-*" 2>/dev/null | xargs -r "${REDIS[@]}" DEL >/dev/null 2>&1 || true
  "${REDIS[@]}" --scan --pattern "bench:raw:$RUN:*" 2>/dev/null | xargs -r "${REDIS[@]}" DEL >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${PSQL[@]}" -c "CREATE DATABASE $DB" >/dev/null
log "starting orderly-inventory on :$GRPC_PORT (database $DB)"
"$SERVER" --grpc_port "$GRPC_PORT" --http_port "$HTTP_PORT" --pg_database "$DB" \
  --pg_pool_size 24 --redis_pool_size 32 --relay_enabled false --consumer_enabled false \
  --log_level error >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done

json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# run_path NAME SETUP_FLAGS RUN_FLAGS: prints the driver's JSON, checks the result.
run_path() {
  local name="$1" setup="$2" runf="$3" sku="bench-$RUN-$1"
  "$DRIVER" setup --target "127.0.0.1:$GRPC_PORT" --sku "$sku" --stock "$STOCK" $setup
  local out check
  out="$("$DRIVER" run --target "127.0.0.1:$GRPC_PORT" --sku "$sku" --attempts "$ATTEMPTS" \
          --channels "$CHANNELS" --inflight "$INFLIGHT" --run-id "$RUN-$name" --stock "$STOCK" $runf)"
  check="$("$DRIVER" check --target "127.0.0.1:$GRPC_PORT" --sku "$sku" --stock "$STOCK")"
  echo "$out" >"$WORK/$name.json"
  echo "$check" >"$WORK/$name.check.json"
  log "$name: $out stock: $check"
}

run_path redis "--flash" "--flash"
run_path db "" ""
run_path bucketed "--buckets $BUCKETS" ""

# --- raw limits ----------------------------------------------------------------------------
SHA="$("${REDIS[@]}" SCRIPT LOAD "$("$DRIVER" lua)")"
RK="bench:raw:$RUN:fs:{raw}:"
"${REDIS[@]}" SET "${RK}stock" "$STOCK" >/dev/null
"${REDIS[@]}" SET "${RK}epoch" 1 >/dev/null
log "redis-benchmark: EVALSHA of the same script, $ATTEMPTS calls, 64 clients"
redis-benchmark -h "$ORDERLY_REDIS_HOST" -p "$ORDERLY_REDIS_PORT" -n "$ATTEMPTS" -c 64 \
  -r 100000000 --csv EVALSHA "$SHA" 4 "${RK}stock" "${RK}epoch" "${RK}resv" "${RK}grants" \
  "order:__rand_int__" 1 1 0 >"$WORK/redis-benchmark.csv" 2>/dev/null
REDIS_RAW="$(python3 -c '
import csv,sys
rows=[r for r in csv.reader(open(sys.argv[1])) if r and r[0] != "test"]
print(int(float(rows[-1][1])))' "$WORK/redis-benchmark.csv")"
REDIS_RAW_SOLD=$(( STOCK - $("${REDIS[@]}" GET "${RK}stock") ))

# The raw database limit: the same conditional UPDATE on a one-row SKU, through pgbench.
DSN="host=$ORDERLY_PG_HOST port=$ORDERLY_PG_PORT user=$ORDERLY_PG_USER dbname=$DB"
"$DRIVER" setup --target "127.0.0.1:$GRPC_PORT" --sku "bench-$RUN-raw" --stock "$STOCK"
cat >"$WORK/update.sql" <<SQL
UPDATE stock_buckets SET available = available - 1, reserved = reserved + 1
 WHERE sku_id = 'bench-$RUN-raw' AND bucket_no = 0 AND available >= 1;
SQL
log "pgbench: the same UPDATE, $ATTEMPTS transactions, $PGBENCH_CLIENTS clients"
pgbench "$DSN" -n -f "$WORK/update.sql" -c "$PGBENCH_CLIENTS" -j 2 \
  -t $(( ATTEMPTS / PGBENCH_CLIENTS )) >"$WORK/pgbench.out" 2>&1
DB_RAW="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.out" | tail -1 | cut -d. -f1)"
# Put the raw SKU back in balance for the final invariant check.
"${PSQL[@]}" -d "$DB" -c "UPDATE stock_buckets SET available = available + reserved, reserved = 0 WHERE sku_id = 'bench-$RUN-raw'" >/dev/null 2>&1 || \
  psql "$DSN" -qAt -c "UPDATE stock_buckets SET available = available + reserved, reserved = 0 WHERE sku_id = 'bench-$RUN-raw'" >/dev/null

# --- report --------------------------------------------------------------------------------
python3 - "$WORK" "$STOCK" "$REDIS_RAW" "$DB_RAW" "$BUCKETS" "$REDIS_RAW_SOLD" "$CHANNELS" "$INFLIGHT" <<'PY'
import json, sys
work, stock, redis_raw, db_raw, buckets, redis_raw_sold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
channels, inflight = int(sys.argv[7]), int(sys.argv[8])
res = {}
for p in ("redis", "db", "bucketed"):
    run = json.load(open(f"{work}/{p}.json"))
    chk = json.load(open(f"{work}/{p}.check.json"))
    res[p] = (run, chk)
oversold = 0
ok = True
for p, (run, chk) in res.items():
    held = chk["reserved"] + chk["sold"]
    oversold += max(0, run["reserved"] - stock) + max(0, held - stock)
    if run["reserved"] != stock or held != stock or chk["violations"] or run["errors"]:
        ok = False
print()
print(f"Flash sale: {stock} units, {res['redis'][0]['attempts']} attempts per path, "
      f"{channels} HTTP/2 connections x {inflight} calls in flight = {channels * inflight} concurrent buyers")
print(f"{'path':<10} {'reserved':>9} {'sold out':>9} {'errors':>7} {'seconds':>8} {'attempts/s':>11}   raw limit (same run)")
raw = {"redis": f"{redis_raw}/s redis-benchmark EVALSHA", "db": f"{db_raw}/s pgbench UPDATE", "bucketed": f"{db_raw}/s pgbench UPDATE (1 row)"}
for p, (run, chk) in res.items():
    print(f"{p:<10} {run['reserved']:>9} {run['refused']:>9} {run['errors']:>7} {run['seconds']:>8.2f} {run['attempts_per_s']:>11.0f}   {raw[p]}")
ratio = res["bucketed"][0]["attempts_per_s"] / max(1, res["db"][0]["attempts_per_s"])
sell = {p: (stock / r[0]["sellout_seconds"] if r[0].get("sellout_seconds") else 0) for p, r in res.items()}
sell_ratio = sell["bucketed"] / max(1, sell["db"])
print(f"bucketed ({buckets} buckets) / single row: {ratio:.2f}x over all attempts, {sell_ratio:.2f}x while stock lasted")
print("sell-out phase (units/s until the last unit went): " + ", ".join(f"{p} {v:.0f}" for p, v in sell.items()))
# After the sell-out every attempt is a refusal, which costs the same on both database paths (a
# sold-out SKU has no row lock to spread). So however fast the bucketed sell-out, bucketed/db over
# all attempts cannot exceed db_seconds / (bucketed refusal phase).
refusal_rate = {}
for p, (run, chk) in res.items():
    rest = run["seconds"] - run.get("sellout_seconds", 0)
    refusal_rate[p] = (run["attempts"] - run["reserved"]) / rest if rest > 0 else 0
b_refusals = res["bucketed"][0]["seconds"] - res["bucketed"][0].get("sellout_seconds", 0)
ratio_bound = res["db"][0]["seconds"] / b_refusals if b_refusals > 0 else 0
print("refusal phase (refusals/s after the sell-out): " + ", ".join(f"{p} {v:.0f}" for p, v in refusal_rate.items()))
print(f"bucketed/db over all attempts could reach at most {ratio_bound:.2f}x in this run, even with a bucketed sell-out taking no time")
print(f"redis-benchmark sold {redis_raw_sold} of {stock} (same script, same key layout)")
print("result:", "OK exactly %d reserved on every path, invariants hold" % stock if ok else "FAILED (see above)")
print(json.dumps({
    "sold": res["redis"][1]["reserved"] + res["redis"][1]["sold"],
    "oversold": oversold,
    "redis_attempts_per_s": round(res["redis"][0]["attempts_per_s"]),
    "redis_raw_per_s": redis_raw,
    "db_attempts_per_s": round(res["db"][0]["attempts_per_s"]),
    "db_raw_per_s": db_raw,
    "bucketed_attempts_per_s": round(res["bucketed"][0]["attempts_per_s"]),
    "bucketed_vs_db": round(ratio, 2),
    "db_sellout_per_s": round(sell["db"]),
    "bucketed_sellout_per_s": round(sell["bucketed"]),
    "redis_sellout_per_s": round(sell["redis"]),
    "bucketed_vs_db_sellout": round(sell_ratio, 2),
    "bucketed_vs_db_bound": round(ratio_bound, 2),
    "refusals_per_s": {p: round(v) for p, v in refusal_rate.items()},
    "db_sold": res["db"][1]["reserved"],
    "bucketed_sold": res["bucketed"][1]["reserved"],
    "all_paths_exact": ok,
    "channels": channels,
    "inflight": inflight,
}))
PY
