#include "pg_stock_repository.hpp"

#include <absl/strings/escaping.h>
#include <absl/strings/str_cat.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <functional>
#include <map>

#include "inventory_events.hpp"
#include "inventory_proto.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/events/outbox_rows.hpp"
#include "orderly/pg/guard.hpp"
#include "orderly/pg/query.hpp"
#include "reservation_rules.hpp"

namespace orderly::inventory {
namespace {

// ---- SQL -----------------------------------------------------------------------------------
// Timestamps cross the boundary as Unix milliseconds so no time zone setting matters.

constexpr char kSkuColumns[] = R"sql(
  sku_id, product_id, product_name, specs::text, price_minor, currency_code, sale_status,
  merchant_id, warehouse_id, purchase_limit, deduction_policy, flash_sale, stock_buckets,
  low_stock_threshold, flash_epoch,
  (extract(epoch FROM created_at) * 1000)::bigint,
  (extract(epoch FROM updated_at) * 1000)::bigint)sql";

// "{cols}" in a statement stands for kSkuColumns.
std::string WithCols(const char* sql) {
  std::string s(sql);
  const std::string token = "{cols}";
  auto pos = s.find(token);
  if (pos != std::string::npos) s.replace(pos, token.size(), kSkuColumns);
  return s;
}

const pg::Query kFindSkus{"inventory.find_skus",
                          WithCols("SELECT {cols} FROM skus WHERE sku_id = ANY($1::text[])")};
const pg::Query kFindSkusShare{
    "inventory.find_skus_share",
    WithCols("SELECT {cols} FROM skus WHERE sku_id = ANY($1::text[]) ORDER BY sku_id FOR SHARE")};
const pg::Query kLockSku{"inventory.lock_sku",
                         WithCols("SELECT {cols} FROM skus WHERE sku_id = $1 FOR UPDATE")};
const pg::Query kListSkus{"inventory.list_skus", WithCols(R"sql(
  SELECT {cols} FROM skus
   WHERE ($1 = '' OR merchant_id = $1) AND ($2 = 0 OR sale_status = $2) AND sku_id > $3
   ORDER BY sku_id LIMIT $4)sql")};
const pg::Query kWarmFlashSkus{
    "inventory.warm_flash_skus",
    WithCols("SELECT {cols} FROM skus WHERE flash_sale AND flash_epoch > 0 ORDER BY sku_id")};

const pg::Query kUpsertSku{"inventory.upsert_sku", R"sql(
  INSERT INTO skus (sku_id, product_id, product_name, specs, price_minor, currency_code,
                    sale_status, merchant_id, warehouse_id, purchase_limit, deduction_policy,
                    flash_sale, stock_buckets, low_stock_threshold)
  VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
  ON CONFLICT (sku_id) DO UPDATE SET
    product_id = EXCLUDED.product_id, product_name = EXCLUDED.product_name,
    specs = EXCLUDED.specs, price_minor = EXCLUDED.price_minor,
    currency_code = EXCLUDED.currency_code, sale_status = EXCLUDED.sale_status,
    merchant_id = EXCLUDED.merchant_id, warehouse_id = EXCLUDED.warehouse_id,
    purchase_limit = EXCLUDED.purchase_limit, deduction_policy = EXCLUDED.deduction_policy,
    flash_sale = EXCLUDED.flash_sale, stock_buckets = EXCLUDED.stock_buckets,
    low_stock_threshold = EXCLUDED.low_stock_threshold, updated_at = now())sql"};
// Stock held per bucket of a SKU, to refuse re-bucketing a SKU that holds stock.
const pg::Query kBucketStock{"inventory.bucket_stock", R"sql(
  SELECT bucket_no, available + reserved + sold FROM stock_buckets WHERE sku_id = $1
   ORDER BY bucket_no FOR UPDATE)sql"};
const pg::Query kCreateBuckets{"inventory.create_buckets", R"sql(
  INSERT INTO stock_buckets (sku_id, bucket_no)
  SELECT $1, g FROM generate_series($2::int, $3::int - 1) g
  ON CONFLICT DO NOTHING)sql"};
const pg::Query kDropEmptyBuckets{"inventory.drop_empty_buckets", R"sql(
  DELETE FROM stock_buckets WHERE sku_id = $1 AND bucket_no >= $2
     AND available = 0 AND reserved = 0 AND sold = 0)sql"};

const pg::Query kFindReceipt{"inventory.find_receipt", R"sql(
  SELECT sku_id, quantity, available_after, reserved_after, sold_after, total_received_after
    FROM stock_receipts WHERE request_id = $1)sql"};
// Spreads a receipt over the ordinary buckets 0..n-1: an equal share each, the remainder to the
// emptiest buckets, so they stay level.
const pg::Query kReceiveIntoBuckets{"inventory.receive_into_buckets", R"sql(
  UPDATE stock_buckets b
     SET available = b.available + ($2::bigint / $3::int)
                     + CASE WHEN r.rank < ($2::bigint % $3::int) THEN 1 ELSE 0 END
    FROM (SELECT bucket_no, row_number() OVER (ORDER BY available, bucket_no) - 1 AS rank
            FROM (SELECT bucket_no, available FROM stock_buckets
                   WHERE sku_id = $1 AND bucket_no >= 0 AND bucket_no < $3::int
                   ORDER BY bucket_no FOR UPDATE) locked) r
   WHERE b.sku_id = $1 AND b.bucket_no = r.bucket_no)sql"};
const pg::Query kReceiveIntoFlashPool{
    "inventory.receive_into_flash_pool",
    "UPDATE stock_buckets SET available = available + $2 WHERE sku_id = $1 AND bucket_no = -1"};
const pg::Query kInsertReceipt{"inventory.insert_receipt", R"sql(
  INSERT INTO stock_receipts (request_id, sku_id, quantity, note, available_after,
                              reserved_after, sold_after, total_received_after)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id) DO NOTHING)sql"};

const pg::Query kStockLevels{"inventory.stock_levels", R"sql(
  SELECT s.sku_id,
         COALESCE((SELECT sum(available) FROM stock_buckets b WHERE b.sku_id = s.sku_id), 0),
         COALESCE((SELECT sum(reserved) FROM stock_buckets b WHERE b.sku_id = s.sku_id), 0),
         COALESCE((SELECT sum(sold) FROM stock_buckets b WHERE b.sku_id = s.sku_id), 0),
         COALESCE((SELECT sum(quantity) FROM stock_receipts r WHERE r.sku_id = s.sku_id), 0)
    FROM skus s WHERE s.sku_id = ANY($1::text[]))sql"};
// The whole database-path Reserve in one statement (migrations/0002_reserve_function.sql).
const pg::Query kReserveFunction{"inventory.reserve_function", R"sql(
  SELECT outcome, sku_id, requested, available, policies, alloc_skus, alloc_buckets, alloc_qty
    FROM inventory_reserve($1, $2, $3, $4, $5, $6, $7::text[], $8::bigint[], $9::integer[],
                           $10::numeric, $11::uuid, $12, $13, $14, $15, $16, $17))sql"};
const pg::Query kPersistGrantFunction{"inventory.persist_grant_function", R"sql(
  SELECT inventory_persist_flash_grant($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::uuid, $11, $12,
                                       $13, $14, $15, $16))sql"};
const pg::Query kPersistGrantsFunction{"inventory.persist_grants_function", R"sql(
  SELECT inventory_persist_flash_grants($1::text[], $2::integer[], $3::text[], $4::bigint[],
                                        $5::bigint[], $6::text[], $7::bigint[], $8::bigint[],
                                        $9::text[], $10::uuid[], $11, $12::text[], $13::text[],
                                        $14::bytea[], $15::text[], $16::bigint[]))sql"};
// inventory_reserve's reads for one-line orders (migrations 0002 / 0004), a batch in one
// statement and one snapshot; rows in query order (n), the SKU columns NULL when it is unknown.
const pg::Query kShortOfStock{"inventory.short_of_stock", R"sql(
  SELECT q.n, EXISTS (SELECT 1 FROM reservations r WHERE r.order_id = q.order_id),
         s.sale_status, s.flash_sale, s.flash_epoch, s.purchase_limit, s.deduction_policy,
         COALESCE((SELECT sum(b.available) FROM stock_buckets b WHERE b.sku_id = s.sku_id), 0)
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(order_id, sku_id, n)
    LEFT JOIN skus s ON s.sku_id = q.sku_id
   ORDER BY q.n)sql"};
const pg::Query kAvailableOf{
    "inventory.available_of",
    "SELECT COALESCE(sum(available), 0) FROM stock_buckets WHERE sku_id = $1"};

// Bucketed SKUs first try every bucket holding enough without waiting on a locked one: the
// bucket nearest after the order's pick whose row is free ($2 = pick, $4 = bucket count).
const pg::Query kTakeAnyFreeReserved{"inventory.take_any_free_reserved", R"sql(
  WITH b AS (SELECT bucket_no FROM stock_buckets
              WHERE sku_id = $1 AND bucket_no >= 0 AND available >= $3
              ORDER BY (bucket_no - $2 + $4) % $4 LIMIT 1 FOR UPDATE SKIP LOCKED)
  UPDATE stock_buckets s SET available = s.available - $3, reserved = s.reserved + $3
    FROM b WHERE s.sku_id = $1 AND s.bucket_no = b.bucket_no
  RETURNING s.bucket_no)sql"};
const pg::Query kTakeAnyFreeSold{"inventory.take_any_free_sold", R"sql(
  WITH b AS (SELECT bucket_no FROM stock_buckets
              WHERE sku_id = $1 AND bucket_no >= 0 AND available >= $3
              ORDER BY (bucket_no - $2 + $4) % $4 LIMIT 1 FOR UPDATE SKIP LOCKED)
  UPDATE stock_buckets s SET available = s.available - $3, sold = s.sold + $3
    FROM b WHERE s.sku_id = $1 AND s.bucket_no = b.bucket_no
  RETURNING s.bucket_no)sql"};
// The ordinary path: a conditional update, never read-then-write. 0 rows = this bucket lacks.
const pg::Query kTakeWholeReserved{"inventory.take_whole_reserved", R"sql(
  UPDATE stock_buckets SET available = available - $3, reserved = reserved + $3
   WHERE sku_id = $1 AND bucket_no = $2 AND available >= $3)sql"};
const pg::Query kTakeWholeSold{"inventory.take_whole_sold", R"sql(
  UPDATE stock_buckets SET available = available - $3, sold = sold + $3
   WHERE sku_id = $1 AND bucket_no = $2 AND available >= $3)sql"};
// Split fallback: takes what one bucket has, up to $3, under its row lock; returns the take.
const pg::Query kTakePartReserved{"inventory.take_part_reserved", R"sql(
  WITH b AS (SELECT bucket_no, LEAST(available, $3::bigint) AS take FROM stock_buckets
              WHERE sku_id = $1 AND bucket_no = $2 FOR UPDATE)
  UPDATE stock_buckets s SET available = s.available - b.take, reserved = s.reserved + b.take
    FROM b WHERE s.sku_id = $1 AND s.bucket_no = b.bucket_no AND b.take > 0
  RETURNING b.take)sql"};
const pg::Query kTakePartSold{"inventory.take_part_sold", R"sql(
  WITH b AS (SELECT bucket_no, LEAST(available, $3::bigint) AS take FROM stock_buckets
              WHERE sku_id = $1 AND bucket_no = $2 FOR UPDATE)
  UPDATE stock_buckets s SET available = s.available - b.take, sold = s.sold + b.take
    FROM b WHERE s.sku_id = $1 AND s.bucket_no = b.bucket_no AND b.take > 0
  RETURNING b.take)sql"};
// Every allocation of a line in one statement ($2 buckets, $3 quantities). The CHECK constraint
// makes a bookkeeping bug fail loudly instead of going negative.
const pg::Query kReturnReserved{"inventory.return_reserved", R"sql(
  UPDATE stock_buckets b SET reserved = b.reserved - u.q, available = b.available + u.q
    FROM unnest($2::integer[], $3::bigint[]) AS u(bucket, q)
   WHERE b.sku_id = $1 AND b.bucket_no = u.bucket)sql"};
const pg::Query kSellReserved{"inventory.sell_reserved", R"sql(
  UPDATE stock_buckets b SET reserved = b.reserved - u.q, sold = b.sold + u.q
    FROM unnest($2::integer[], $3::bigint[]) AS u(bucket, q)
   WHERE b.sku_id = $1 AND b.bucket_no = u.bucket)sql"};
const pg::Query kReturnSold{"inventory.return_sold", R"sql(
  UPDATE stock_buckets b SET sold = b.sold - u.q, available = b.available + u.q
    FROM unnest($2::integer[], $3::bigint[]) AS u(bucket, q)
   WHERE b.sku_id = $1 AND b.bucket_no = u.bucket)sql"};

// A reservation with its lines and their allocations in one round trip: one row per allocation
// (or per line without one, or one row for a reservation without lines).
const pg::Query kFindReservation{"inventory.find_reservation", R"sql(
  SELECT r.order_id, r.state, r.order_type, r.fingerprint, r.path,
         (extract(epoch FROM r.expires_at) * 1000)::bigint, r.release_reason, r.version,
         (extract(epoch FROM r.created_at) * 1000)::bigint,
         (extract(epoch FROM r.updated_at) * 1000)::bigint, r.grant_id,
         l.sku_id, l.quantity, l.deduction_policy, l.state, a.bucket_no, a.quantity
    FROM reservations r
    LEFT JOIN reservation_lines l ON l.order_id = r.order_id
    LEFT JOIN reservation_allocations a ON a.order_id = l.order_id AND a.sku_id = l.sku_id
   WHERE r.order_id = $1
   ORDER BY l.sku_id, a.bucket_no)sql"};
const pg::Query kFindReservationForUpdate{"inventory.find_reservation_for_update",
                                          kFindReservation.sql() + " FOR UPDATE OF r"};
const pg::Query kInsertReservation{"inventory.insert_reservation", R"sql(
  INSERT INTO reservations (order_id, state, order_type, fingerprint, path, expires_at,
                            release_reason, version, created_at, updated_at, grant_id)
  VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000), $7, 1,
          to_timestamp($8::double precision / 1000), to_timestamp($8::double precision / 1000),
          $9)
  ON CONFLICT (order_id) DO NOTHING)sql"};
const pg::Query kInsertLine{"inventory.insert_line", R"sql(
  INSERT INTO reservation_lines (order_id, sku_id, quantity, deduction_policy, state)
  VALUES ($1, $2, $3, $4, $5))sql"};
const pg::Query kInsertAllocation{"inventory.insert_allocation", R"sql(
  INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
  VALUES ($1, $2, $3, $4)
  ON CONFLICT (order_id, sku_id, bucket_no) DO UPDATE SET quantity = EXCLUDED.quantity)sql"};
// State, release reason and version of a reservation, its lines' states ($5 skus, $6 states) and
// its allocations ($7 skus, $8 buckets, $9 quantities) in one statement.
const pg::Query kUpdateReservation{"inventory.update_reservation", R"sql(
  WITH res AS (
    UPDATE reservations SET state = $2, release_reason = $3, version = version + 1,
           updated_at = to_timestamp($4::double precision / 1000)
     WHERE order_id = $1 RETURNING order_id),
  lines AS (
    UPDATE reservation_lines l SET state = u.state
      FROM unnest($5::text[], $6::text[]) AS u(sku, state)
     WHERE l.order_id = $1 AND l.sku_id = u.sku RETURNING 1),
  allocs AS (
    INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
    SELECT $1, u.sku, u.bucket, u.q FROM unnest($7::text[], $8::integer[], $9::bigint[]) AS u(sku, bucket, q)
    ON CONFLICT (order_id, sku_id, bucket_no) DO UPDATE SET quantity = EXCLUDED.quantity
    RETURNING 1)
  SELECT (SELECT count(*) FROM res), (SELECT count(*) FROM lines), (SELECT count(*) FROM allocs))sql"};
const pg::Query kDropAllocations{"inventory.drop_allocations", R"sql(
  DELETE FROM reservation_allocations WHERE order_id = $1)sql"};
const pg::Query kFindConfirmRefusal{"inventory.find_confirm_refusal", R"sql(
  SELECT reason FROM confirm_refusals WHERE order_id = $1)sql"};
const pg::Query kRecordConfirmRefusal{"inventory.record_confirm_refusal", R"sql(
  INSERT INTO confirm_refusals (order_id, reason, refused_at)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000))
  ON CONFLICT (order_id) DO NOTHING)sql"};
const pg::Query kLockExpired{"inventory.lock_expired", R"sql(
  SELECT order_id FROM reservations
   WHERE state = 'RESERVED' AND expires_at <= to_timestamp($1::double precision / 1000)
   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)sql"};

const pg::Query kFlipLowStock{"inventory.flip_low_stock", R"sql(
  INSERT INTO low_stock_alerts (sku_id, alerted) VALUES ($1, $2)
  ON CONFLICT (sku_id) DO UPDATE SET alerted = EXCLUDED.alerted, updated_at = now()
   WHERE low_stock_alerts.alerted IS DISTINCT FROM EXCLUDED.alerted)sql"};

const pg::Query kMoveToFlashPool{"inventory.move_to_flash_pool", R"sql(
  WITH moved AS (
    UPDATE stock_buckets o SET available = 0
      FROM (SELECT bucket_no, available FROM stock_buckets
             WHERE sku_id = $1 AND bucket_no >= 0 FOR UPDATE) old
     WHERE o.sku_id = $1 AND o.bucket_no = old.bucket_no
    RETURNING old.available AS qty)
  UPDATE stock_buckets SET available = available + (SELECT COALESCE(sum(qty), 0) FROM moved)
   WHERE sku_id = $1 AND bucket_no = -1
  RETURNING available)sql"};
const pg::Query kSetFlashEpoch{
    "inventory.set_flash_epoch",
    "UPDATE skus SET flash_epoch = $2, updated_at = now() WHERE sku_id = $1"};
const pg::Query kLockFlashPool{
    "inventory.lock_flash_pool",
    "SELECT available FROM stock_buckets WHERE sku_id = $1 AND bucket_no = -1 FOR UPDATE"};
const pg::Query kFlashOrders{"inventory.flash_orders", R"sql(
  SELECT a.order_id, a.quantity, l.state IN ('RESERVED', 'CONFIRMED', 'DEDUCTED')
    FROM reservation_allocations a
    JOIN reservation_lines l USING (order_id, sku_id)
   WHERE a.sku_id = $1 AND a.bucket_no = -1)sql"};

// One statement, so one snapshot: per SKU the bucket sums, the receipts, and what the
// reservation lines say should be reserved and sold.
const pg::Query kCheckInvariants{"inventory.check_invariants", R"sql(
  WITH s AS (SELECT sku_id FROM skus WHERE $1::text[] IS NULL OR sku_id = ANY($1::text[])),
  b AS (SELECT sku_id, sum(available) AS available, sum(reserved) AS reserved,
               sum(sold) AS sold, min(LEAST(available, reserved, sold)) AS lowest
          FROM stock_buckets WHERE sku_id IN (SELECT sku_id FROM s) GROUP BY sku_id),
  rc AS (SELECT sku_id, sum(quantity) AS received FROM stock_receipts
          WHERE sku_id IN (SELECT sku_id FROM s) GROUP BY sku_id),
  al AS (SELECT a.sku_id,
                sum(a.quantity) FILTER (WHERE l.state = 'RESERVED') AS reserved,
                sum(a.quantity) FILTER (WHERE l.state IN ('CONFIRMED', 'DEDUCTED')) AS sold
           FROM reservation_allocations a JOIN reservation_lines l USING (order_id, sku_id)
          WHERE a.sku_id IN (SELECT sku_id FROM s) GROUP BY a.sku_id),
  bad AS (SELECT a.sku_id, count(*) AS n FROM reservation_allocations a
            JOIN reservation_lines l USING (order_id, sku_id)
           GROUP BY a.sku_id, a.order_id, l.quantity, l.state, l.deduction_policy
          HAVING (l.state IN ('RESERVED', 'CONFIRMED', 'DEDUCTED')
                  AND sum(a.quantity) <> l.quantity))
  SELECT s.sku_id, COALESCE(b.available, 0), COALESCE(b.reserved, 0), COALESCE(b.sold, 0),
         COALESCE(b.lowest, 0), COALESCE(rc.received, 0), COALESCE(al.reserved, 0),
         COALESCE(al.sold, 0), COALESCE((SELECT sum(n) FROM bad WHERE bad.sku_id = s.sku_id), 0)
    FROM s LEFT JOIN b USING (sku_id) LEFT JOIN rc USING (sku_id) LEFT JOIN al USING (sku_id)
   ORDER BY s.sku_id)sql"};

// ---- helpers -------------------------------------------------------------------------------

using pg::ArrayValues;
using pg::ByteaArray;
using pg::IntArray;
using pg::TextArray;

// The outbox row of an event written by one of the inventory_* functions: the envelope completed
// exactly as events::Append completes it (the functions insert the row as Append does).
absl::StatusOr<events::OutboxRow> OutboxRowOf(events::v1::EventEnvelope& envelope,
                                              const std::string& topic) {
  return events::PrepareOutboxRow(envelope, {.topic = topic, .partition_key = ""});
}

std::string SpecsToJson(const std::map<std::string, std::string>& specs) {
  google::protobuf::Struct st;
  for (const auto& [k, v] : specs) (*st.mutable_fields())[k].set_string_value(v);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(st, &json).ok()) return "{}";
  return json;
}

std::map<std::string, std::string> SpecsFromJson(const std::string& json) {
  google::protobuf::Struct st;
  std::map<std::string, std::string> out;
  if (!google::protobuf::util::JsonStringToMessage(json, &st).ok()) return out;
  for (const auto& [k, v] : st.fields()) {
    out[k] =
        v.kind_case() == google::protobuf::Value::kStringValue ? v.string_value() : v.DebugString();
  }
  return out;
}

SkuRecord SkuFromRow(const pqxx::row& r) {
  SkuRecord s;
  s.sku_id = r[0].as<std::string>();
  s.product_id = r[1].as<std::string>();
  s.product_name = r[2].as<std::string>();
  s.specs = SpecsFromJson(r[3].as<std::string>());
  s.price_minor = r[4].as<int64_t>();
  s.currency_code = r[5].as<std::string>();
  s.sale_status = static_cast<SkuSaleStatus>(r[6].as<int>());
  s.merchant_id = r[7].as<std::string>();
  s.warehouse_id = r[8].as<std::string>();
  s.purchase_limit = r[9].as<int32_t>();
  s.deduction_policy = static_cast<DeductionPolicy>(r[10].as<int>());
  s.flash_sale = r[11].as<bool>();
  s.stock_buckets = r[12].as<int32_t>();
  s.low_stock_threshold = r[13].as<int64_t>();
  s.flash_epoch = r[14].as<int64_t>();
  s.created_at = FromUnixMillis(r[15].as<int64_t>());
  s.updated_at = FromUnixMillis(r[16].as<int64_t>());
  return s;
}

std::string PathName(DecisionPath p) { return p == DecisionPath::kRedis ? "redis" : "db"; }

using pg::Guard;

absl::StatusOr<StockLevel> LevelInTx(pqxx::transaction_base& tx, const std::string& sku_id) {
  auto rows = pg::Exec(tx, kStockLevels, TextArray({sku_id}));
  if (rows.empty()) return SkuNotFound(sku_id);
  StockLevel l;
  l.sku_id = rows[0][0].as<std::string>();
  l.available = rows[0][1].as<int64_t>();
  l.reserved = rows[0][2].as<int64_t>();
  l.sold = rows[0][3].as<int64_t>();
  l.total_received = rows[0][4].as<int64_t>();
  return l;
}

// Runs one grant-persisting statement. A pool that could not cover the grants, or a low-stock
// crossing (SQLSTATE IV001 / IV002), rolled the statement back whole: not an error, the caller
// takes the slower path for those grants.
absl::Status RunGrantStatement(pg::Pool& pool,
                               const std::function<absl::Status(pqxx::nontransaction&)>& body) {
  return pool.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    try {
      pqxx::nontransaction tx(conn);
      return body(tx);
    } catch (const pqxx::sql_error& e) {
      if (std::string state = e.sqlstate(); state == "IV001" || state == "IV002") {
        return absl::OkStatus();
      }
      return pg::StatusFromCurrentException();
    } catch (...) {
      return pg::StatusFromCurrentException();
    }
  });
}

}  // namespace

// ---- PgStockTx -----------------------------------------------------------------------------

absl::StatusOr<std::optional<Reservation>> PgStockTx::FindReservation(const std::string& order_id,
                                                                      bool for_update) {
  return Guard([&]() -> absl::StatusOr<std::optional<Reservation>> {
    auto rows = for_update ? pg::Exec(tx_, kFindReservationForUpdate, order_id)
                           : pg::Exec(tx_, kFindReservation, order_id);
    if (rows.empty()) return std::optional<Reservation>();
    const auto& r = rows[0];
    Reservation res;
    res.order_id = r[0].as<std::string>();
    auto state = ReservationStateFromString(r[1].as<std::string>());
    if (!state) return absl::InternalError("unknown reservation state " + r[1].as<std::string>());
    res.state = *state;
    res.order_type = static_cast<OrderType>(r[2].as<int>());
    res.fingerprint = r[3].as<std::string>();
    res.path = r[4].as<std::string>() == "redis" ? DecisionPath::kRedis : DecisionPath::kDatabase;
    res.expires_at = FromUnixMillis(r[5].as<int64_t>());
    res.release_reason = static_cast<ReleaseReason>(r[6].as<int>());
    res.version = r[7].as<int64_t>();
    res.created_at = FromUnixMillis(r[8].as<int64_t>());
    res.updated_at = FromUnixMillis(r[9].as<int64_t>());
    res.grant_id = r[10].as<std::string>();
    for (const auto& row : rows) {
      if (row[11].is_null()) continue;  // no lines (a tombstone)
      const std::string sku = row[11].as<std::string>();
      if (res.lines.empty() || res.lines.back().sku_id != sku) {
        ReservationLine line;
        line.sku_id = sku;
        line.quantity = row[12].as<int64_t>();
        line.policy = static_cast<DeductionPolicy>(row[13].as<int>());
        auto ls = LineStateFromString(row[14].as<std::string>());
        if (!ls) return absl::InternalError("unknown line state " + row[14].as<std::string>());
        line.state = *ls;
        res.lines.push_back(std::move(line));
      }
      if (!row[15].is_null()) {
        res.lines.back().allocations.push_back({row[15].as<int>(), row[16].as<int64_t>()});
      }
    }
    return std::optional<Reservation>(std::move(res));
  });
}

absl::StatusOr<std::vector<SkuRecord>> PgStockTx::FindSkus(const std::vector<std::string>& ids,
                                                           bool share_lock) {
  return Guard([&]() -> absl::StatusOr<std::vector<SkuRecord>> {
    auto rows = share_lock ? pg::Exec(tx_, kFindSkusShare, TextArray(ids))
                           : pg::Exec(tx_, kFindSkus, TextArray(ids));
    std::vector<SkuRecord> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(SkuFromRow(r));
    return out;
  });
}

absl::StatusOr<int64_t> PgStockTx::AvailableOf(const std::string& sku_id) {
  return Guard([&]() -> absl::StatusOr<int64_t> {
    return pg::Exec(tx_, kAvailableOf, sku_id)[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<Allocation>> PgStockTx::TakeAvailable(const std::string& sku_id,
                                                                 const std::vector<int>& buckets,
                                                                 int64_t quantity, TakeInto into) {
  return Guard([&]() -> absl::StatusOr<std::vector<Allocation>> {
    const bool sold = into == TakeInto::kSold;
    // 1. Bucketed: any free bucket holding everything, nearest after the caller's pick.
    if (buckets.size() > 1) {
      const int n = static_cast<int>(buckets.size());
      auto r = sold ? pg::Exec(tx_, kTakeAnyFreeSold, sku_id, buckets[0], quantity, n)
                    : pg::Exec(tx_, kTakeAnyFreeReserved, sku_id, buckets[0], quantity, n);
      if (!r.empty()) return std::vector<Allocation>{{r[0][0].as<int>(), quantity}};
    }
    // 2. One bucket holding everything, waiting for locked rows (their holders may roll back).
    for (int b : buckets) {
      auto r = sold ? pg::Exec(tx_, kTakeWholeSold, sku_id, b, quantity)
                    : pg::Exec(tx_, kTakeWholeReserved, sku_id, b, quantity);
      if (r.affected_rows() == 1) return std::vector<Allocation>{{b, quantity}};
    }
    if (buckets.size() < 2) return std::vector<Allocation>{};
    // 3. Split over buckets in ascending order (a consistent lock order).
    std::vector<int> ordered = buckets;
    std::sort(ordered.begin(), ordered.end());
    std::vector<Allocation> taken;
    int64_t remaining = quantity;
    for (int b : ordered) {
      if (remaining == 0) break;
      auto r = sold ? pg::Exec(tx_, kTakePartSold, sku_id, b, remaining)
                    : pg::Exec(tx_, kTakePartReserved, sku_id, b, remaining);
      if (r.empty()) continue;
      const int64_t take = r[0][0].as<int64_t>();
      taken.push_back({b, take});
      remaining -= take;
    }
    if (remaining > 0) return std::vector<Allocation>{};  // caller rolls back the partial take
    return taken;
  });
}

namespace {
absl::Status MoveReserved(pqxx::transaction_base& tx, const pg::Query& query,
                          const std::string& sku_id, const std::vector<Allocation>& allocations) {
  if (allocations.empty()) return absl::OkStatus();
  std::vector<int> buckets;
  std::vector<int64_t> quantities;
  for (const auto& a : allocations) {
    buckets.push_back(a.bucket_no);
    quantities.push_back(a.quantity);
  }
  auto r = pg::Exec(tx, query, sku_id, IntArray(buckets), IntArray(quantities));
  if (r.affected_rows() != allocations.size()) {
    return absl::InternalError(absl::StrCat("buckets of ", sku_id, " missing"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status PgStockTx::ReturnReserved(const std::string& sku_id,
                                       const std::vector<Allocation>& allocations) {
  return Guard(
      [&]() -> absl::Status { return MoveReserved(tx_, kReturnReserved, sku_id, allocations); });
}

absl::Status PgStockTx::SellReserved(const std::string& sku_id,
                                     const std::vector<Allocation>& allocations) {
  return Guard(
      [&]() -> absl::Status { return MoveReserved(tx_, kSellReserved, sku_id, allocations); });
}

absl::Status PgStockTx::ReturnSold(const std::string& sku_id,
                                   const std::vector<Allocation>& allocations) {
  return Guard(
      [&]() -> absl::Status { return MoveReserved(tx_, kReturnSold, sku_id, allocations); });
}

absl::Status PgStockTx::DropAllocations(const std::string& order_id) {
  return Guard([&]() -> absl::Status {
    pg::Exec(tx_, kDropAllocations, order_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<std::string>> PgStockTx::FindConfirmRefusal(
    const std::string& order_id) {
  return Guard([&]() -> absl::StatusOr<std::optional<std::string>> {
    auto r = pg::Exec(tx_, kFindConfirmRefusal, order_id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

absl::StatusOr<bool> PgStockTx::RecordConfirmRefusal(const std::string& order_id,
                                                     const std::string& reason) {
  return Guard([&]() -> absl::StatusOr<bool> {
    auto r = pg::Exec(tx_, kRecordConfirmRefusal, order_id, reason, ToUnixMillis(clock_.Now()));
    return r.affected_rows() == 1;
  });
}

absl::StatusOr<bool> PgStockTx::InsertReservation(const Reservation& res) {
  return Guard([&]() -> absl::StatusOr<bool> {
    auto r = pg::Exec(tx_, kInsertReservation, res.order_id, std::string(ToString(res.state)),
                      static_cast<int>(res.order_type), res.fingerprint, PathName(res.path),
                      ToUnixMillis(res.expires_at), static_cast<int>(res.release_reason),
                      ToUnixMillis(res.created_at), res.grant_id);
    if (r.affected_rows() == 0) return false;
    for (const auto& line : res.lines) {
      pg::Exec(tx_, kInsertLine, res.order_id, line.sku_id, line.quantity,
               static_cast<int>(line.policy), std::string(ToString(line.state)));
      for (const auto& a : line.allocations) {
        pg::Exec(tx_, kInsertAllocation, res.order_id, line.sku_id, a.bucket_no, a.quantity);
      }
    }
    return true;
  });
}

absl::Status PgStockTx::UpdateReservation(const Reservation& res) {
  return Guard([&]() -> absl::Status {
    std::vector<std::string> line_skus, line_states, alloc_skus;
    std::vector<int> alloc_buckets;
    std::vector<int64_t> alloc_quantities;
    for (const auto& line : res.lines) {
      line_skus.push_back(line.sku_id);
      line_states.push_back(std::string(ToString(line.state)));
      for (const auto& a : line.allocations) {
        alloc_skus.push_back(line.sku_id);
        alloc_buckets.push_back(a.bucket_no);
        alloc_quantities.push_back(a.quantity);
      }
    }
    auto r = pg::Exec(tx_, kUpdateReservation, res.order_id, std::string(ToString(res.state)),
                      static_cast<int>(res.release_reason), ToUnixMillis(clock_.Now()),
                      TextArray(line_skus), TextArray(line_states), TextArray(alloc_skus),
                      IntArray(alloc_buckets), IntArray(alloc_quantities));
    if (r[0][0].as<int64_t>() != 1)
      return absl::InternalError("reservation vanished: " + res.order_id);
    if (r[0][1].as<size_t>() != res.lines.size()) {
      return absl::InternalError("reservation lines vanished: " + res.order_id);
    }
    return absl::OkStatus();
  });
}

absl::Status PgStockTx::AppendEvent(events::v1::EventEnvelope& event) {
  auto r = events::Append(tx_, event, {.topic = topic_, .partition_key = ""});
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<bool> PgStockTx::FlipLowStockLatch(const std::string& sku_id, bool alerted) {
  return Guard([&]() -> absl::StatusOr<bool> {
    auto r = pg::Exec(tx_, kFlipLowStock, sku_id, alerted);
    return r.affected_rows() == 1;
  });
}

absl::StatusOr<std::vector<std::string>> PgStockTx::LockExpired(TimePoint now, int limit) {
  return Guard([&]() -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const auto& r : pg::Exec(tx_, kLockExpired, ToUnixMillis(now), limit)) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  });
}

absl::StatusOr<std::optional<SkuRecord>> PgStockTx::LockSku(const std::string& sku_id) {
  return Guard([&]() -> absl::StatusOr<std::optional<SkuRecord>> {
    auto rows = pg::Exec(tx_, kLockSku, sku_id);
    if (rows.empty()) return std::optional<SkuRecord>();
    return std::optional<SkuRecord>(SkuFromRow(rows[0]));
  });
}

absl::StatusOr<int64_t> PgStockTx::MoveToFlashPool(const std::string& sku_id, int64_t new_epoch) {
  return Guard([&]() -> absl::StatusOr<int64_t> {
    pg::Exec(tx_, kCreateBuckets, sku_id, -1, 0);
    auto rows = pg::Exec(tx_, kMoveToFlashPool, sku_id);
    if (rows.empty()) return absl::InternalError("flash pool bucket missing for " + sku_id);
    pg::Exec(tx_, kSetFlashEpoch, sku_id, new_epoch);
    return rows[0][0].as<int64_t>();
  });
}

absl::StatusOr<int64_t> PgStockTx::LockFlashPool(const std::string& sku_id) {
  return Guard([&]() -> absl::StatusOr<int64_t> {
    auto rows = pg::Exec(tx_, kLockFlashPool, sku_id);
    if (rows.empty()) return absl::InternalError("flash pool bucket missing for " + sku_id);
    return rows[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<StockTx::FlashOrder>> PgStockTx::FlashOrders(const std::string& sku_id) {
  return Guard([&]() -> absl::StatusOr<std::vector<FlashOrder>> {
    std::vector<FlashOrder> out;
    for (const auto& r : pg::Exec(tx_, kFlashOrders, sku_id)) {
      out.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<bool>()});
    }
    return out;
  });
}

// ---- PgStockRepository ---------------------------------------------------------------------

absl::Status PgStockRepository::InTransaction(const StockTxFn& fn) {
  return pool_.InTransaction([&](pqxx::transaction_base& tx) {
    PgStockTx stx(tx, *clock_, topic_);
    return fn(stx);
  });
}

absl::Status PgStockRepository::InPgTransaction(const std::function<absl::Status(PgStockTx&)>& fn) {
  return pool_.InTransaction([&](pqxx::transaction_base& tx) {
    PgStockTx stx(tx, *clock_, topic_);
    return fn(stx);
  });
}

absl::StatusOr<std::vector<SkuRecord>> PgStockRepository::GetSkus(
    const std::vector<std::string>& ids) {
  // One statement needs no BEGIN/COMMIT: it runs in its own snapshot (one round trip).
  std::vector<SkuRecord> out;
  auto s = pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    return Guard([&]() -> absl::Status {
      pqxx::nontransaction tx(conn);
      for (const auto& r : pg::Exec(tx, kFindSkus, TextArray(ids))) {
        out.push_back(SkuFromRow(r));
      }
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<SkuRecord>> PgStockRepository::ListSkus(const std::string& merchant_id,
                                                                   SkuSaleStatus status,
                                                                   const std::string& after_sku_id,
                                                                   int limit) {
  std::vector<SkuRecord> out;
  auto s = pool_.InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
    return Guard([&]() -> absl::Status {
      for (const auto& r :
           pg::Exec(tx, kListSkus, merchant_id, static_cast<int>(status), after_sku_id, limit)) {
        out.push_back(SkuFromRow(r));
      }
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<SkuRecord>> PgStockRepository::WarmFlashSkus() {
  std::vector<SkuRecord> out;
  auto s = pool_.InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
    return Guard([&]() -> absl::Status {
      for (const auto& r : pg::Exec(tx, kWarmFlashSkus)) out.push_back(SkuFromRow(r));
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<SkuRecord> PgStockRepository::UpsertSku(const SkuRecord& sku) {
  SkuRecord stored;
  auto s = InPgTransaction([&](PgStockTx& stx) -> absl::Status {
    return Guard([&]() -> absl::Status {
      auto& tx = stx.raw();
      auto before = stx.LockSku(sku.sku_id);
      if (!before.ok()) return before.status();
      // Re-bucketing moves no stock, so it is refused while any bucket holds some.
      int64_t held = 0, flash_held = 0;
      for (const auto& r : pg::Exec(tx, kBucketStock, sku.sku_id)) {
        (r[0].as<int>() == kFlashBucket ? flash_held : held) += r[1].as<int64_t>();
      }
      if (*before) {
        Violations v;
        if ((*before)->stock_buckets != sku.stock_buckets && held > 0) {
          v.Add("sku.stock_buckets", absl::StrCat("cannot change from ", (*before)->stock_buckets,
                                                  " while the SKU holds stock"));
        }
        if ((*before)->flash_sale && !sku.flash_sale && flash_held > 0) {
          v.Add("sku.flash_sale", "cannot end a flash sale whose pool holds stock");
        }
        if (!v.empty()) return v.ToStatus();
      }
      pg::Exec(tx, kUpsertSku, sku.sku_id, sku.product_id, sku.product_name, SpecsToJson(sku.specs),
               sku.price_minor, sku.currency_code, static_cast<int>(sku.sale_status),
               sku.merchant_id, sku.warehouse_id, sku.purchase_limit,
               static_cast<int>(sku.deduction_policy), sku.flash_sale, sku.stock_buckets,
               sku.low_stock_threshold);
      pg::Exec(tx, kCreateBuckets, sku.sku_id, sku.flash_sale ? -1 : 0, sku.stock_buckets);
      pg::Exec(tx, kDropEmptyBuckets, sku.sku_id, sku.stock_buckets);
      auto after = stx.LockSku(sku.sku_id);
      if (!after.ok()) return after.status();
      stored = **after;
      const bool changed = !*before || !SameCatalog(**before, stored);
      if (!changed) return absl::OkStatus();
      auto ev = SkuUpsertedEvent(stored);
      return stx.AppendEvent(ev);
    });
  });
  if (!s.ok()) return s;
  return stored;
}

absl::StatusOr<StockLevel> PgStockRepository::ReceiveStock(const std::string& sku_id,
                                                           int64_t quantity,
                                                           const std::string& request_id,
                                                           const std::string& note) {
  StockLevel level;
  auto s = InPgTransaction([&](PgStockTx& stx) -> absl::Status {
    return Guard([&]() -> absl::Status {
      auto& tx = stx.raw();
      auto prior = pg::Exec(tx, kFindReceipt, request_id);
      if (!prior.empty()) {
        const auto& r = prior[0];
        if (r[0].as<std::string>() != sku_id || r[1].as<int64_t>() != quantity) {
          return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                               "request_id was used for a different receipt",
                               "REQUEST_FINGERPRINT_MISMATCH", {{"request_id", request_id}});
        }
        level = {sku_id, r[2].as<int64_t>(), r[3].as<int64_t>(), r[4].as<int64_t>(),
                 r[5].as<int64_t>()};
        return absl::OkStatus();
      }
      // FOR SHARE: a concurrent WarmFlashSale (FOR UPDATE) cannot move stock meanwhile.
      auto skus = stx.FindSkus({sku_id}, true);
      if (!skus.ok()) return skus.status();
      if (skus->empty()) return SkuNotFound(sku_id);
      const SkuRecord& sku = skus->front();
      if (sku.flash_sale && sku.flash_epoch > 0) {
        // A warm flash sale takes new stock into its pool; reconciliation hands it to Redis.
        pg::Exec(tx, kReceiveIntoFlashPool, sku_id, quantity);
      } else {
        pg::Exec(tx, kReceiveIntoBuckets, sku_id, quantity, sku.stock_buckets);
      }
      auto l = LevelInTx(tx, sku_id);
      if (!l.ok()) return l.status();
      auto ins = pg::Exec(tx, kInsertReceipt, request_id, sku_id, quantity, note, l->available,
                          l->reserved, l->sold, l->total_received + quantity);
      if (ins.affected_rows() == 0) {
        return absl::AbortedError("concurrent ReceiveStock with the same request_id");
      }
      level = *l;
      level.total_received += quantity;
      if (sku.low_stock_threshold > 0 && level.available >= sku.low_stock_threshold) {
        auto flipped = stx.FlipLowStockLatch(sku_id, false);
        if (!flipped.ok()) return flipped.status();
      }
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return level;
}

absl::StatusOr<std::vector<StockLevel>> PgStockRepository::GetStock(
    const std::vector<std::string>& ids) {
  std::vector<StockLevel> out;
  auto s = pool_.InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
    return Guard([&]() -> absl::Status {
      std::map<std::string, StockLevel> by_id;
      for (const auto& r : pg::Exec(tx, kStockLevels, TextArray(ids))) {
        StockLevel l{r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<int64_t>(),
                     r[3].as<int64_t>(), r[4].as<int64_t>()};
        by_id[l.sku_id] = l;
      }
      for (const auto& id : ids) {
        auto it = by_id.find(id);
        if (it == by_id.end()) return SkuNotFound(id);
        out.push_back(it->second);
      }
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<Reservation>> PgStockRepository::GetReservation(
    const std::string& order_id) {
  std::optional<Reservation> out;
  auto s = InTransaction([&](StockTx& tx) -> absl::Status {
    auto r = tx.FindReservation(order_id, false);
    if (!r.ok()) return r.status();
    out = *std::move(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<std::optional<int64_t>>> PgStockRepository::ShortOfStock(
    const std::vector<ShortOfStockQuery>& queries) {
  std::vector<std::optional<int64_t>> out(queries.size());
  std::vector<std::string> orders, skus;
  for (const auto& q : queries) {
    if (q.cmd->items.size() != 1) return absl::InvalidArgumentError("ShortOfStock: one line only");
    orders.push_back(q.cmd->order_id);
    skus.push_back(q.cmd->items.front().sku_id);
  }
  if (queries.empty()) return out;
  auto s = pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    try {
      pqxx::nontransaction tx(conn);
      auto rows = pg::Exec(tx, kShortOfStock, TextArray(orders), TextArray(skus));
      if (rows.size() != queries.size()) return absl::InternalError("ShortOfStock: row count");
      for (size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        const ReserveCommand& cmd = *queries[i].cmd;
        const ReserveItem& item = cmd.items.front();
        const bool flash_order = cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE;
        out[i].reset();
        // The same tests, in the same order, as inventory_reserve before its 'insufficient'.
        if (r[1].as<bool>()) continue;  // the order has a reservation (or a tombstone)
        if (r[2].is_null()) continue;   // unknown SKU: inventory_reserve words it
        const int sale_status = r[2].as<int>();
        const bool flash_sale = r[3].as<bool>();
        const int64_t epoch = r[4].as<int64_t>();
        const int64_t limit = r[5].as<int64_t>();
        const int catalog_policy = r[6].as<int>();
        const int64_t available = r[7].as<int64_t>();
        if (sale_status != 1 || flash_sale != flash_order || (flash_order && epoch == 0) ||
            (limit > 0 && item.quantity > limit)) {
          continue;
        }
        const int actual = flash_sale ? 1 : catalog_policy;
        if (actual != static_cast<int>(queries[i].policy)) continue;
        if (available < item.quantity) out[i] = available;
      }
      return absl::OkStatus();
    } catch (...) {
      return pg::StatusFromCurrentException();
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<StockRepository::OneStatementOutcome> PgStockRepository::ReserveInOneStatement(
    const OneStatementReserve& req) {
  using Kind = OneStatementOutcome::Kind;
  const ReserveCommand& cmd = *req.cmd;
  auto row = OutboxRowOf(*req.event, topic_);
  if (!row.ok()) return row.status();
  std::vector<std::string> skus;
  std::vector<int64_t> quantities;
  std::vector<int> policies;
  for (size_t i = 0; i < cmd.items.size(); ++i) {
    skus.push_back(cmd.items[i].sku_id);
    quantities.push_back(cmd.items[i].quantity);
    policies.push_back(static_cast<int>(req.policies[i]));
  }
  // BucketOrder's pick, computed there as hash % stock_buckets.
  const std::string hash = std::to_string(std::hash<std::string>{}(cmd.order_id));
  OneStatementOutcome out;
  auto s = pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    try {
      // No BEGIN/COMMIT: the statement is its own transaction; a raise rolls all of it back.
      pqxx::nontransaction tx(conn);
      auto rows =
          pg::Exec(tx, kReserveFunction, cmd.order_id, static_cast<int>(cmd.order_type),
                   cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE, req.fingerprint,
                   ToUnixMillis(req.expires_at), ToUnixMillis(req.now), TextArray(skus),
                   IntArray(quantities), IntArray(policies), hash, req.event->event_id(), topic_,
                   row->partition_key, row->event_type, pqxx::binarystring(row->payload),
                   req.event->traceparent(), row->occurred_at_ms);
      if (rows.size() != 1) return absl::InternalError("inventory_reserve returned no row");
      const auto& r = rows[0];
      const std::string outcome = r[0].as<std::string>();
      if (outcome == "reserved") {
        out.kind = Kind::kReserved;
        const auto a_skus = ArrayValues(r[5]), a_buckets = ArrayValues(r[6]),
                   a_qty = ArrayValues(r[7]);
        if (a_skus.size() != a_buckets.size() || a_skus.size() != a_qty.size()) {
          return absl::InternalError("inventory_reserve: allocation arrays differ in length");
        }
        for (size_t i = 0; i < a_skus.size(); ++i) {
          out.allocations[a_skus[i]].push_back(
              {std::stoi(a_buckets[i]), static_cast<int64_t>(std::stoll(a_qty[i]))});
        }
      } else if (outcome == "exists") {
        out.kind = Kind::kExists;
      } else if (outcome == "catalog") {
        out.kind = Kind::kCatalog;
        out.sku_id = r[1].as<std::string>();
      } else if (outcome == "policy") {
        out.kind = Kind::kPolicy;
        for (const auto& p : ArrayValues(r[4])) {
          out.policies.push_back(static_cast<DeductionPolicy>(std::stoi(p)));
        }
      } else if (outcome == "insufficient") {
        out.kind = Kind::kInsufficient;
        out.sku_id = r[1].as<std::string>();
        out.requested = r[2].as<int64_t>();
        out.available = r[3].as<int64_t>();
      } else {
        return absl::InternalError("inventory_reserve: unknown outcome " + outcome);
      }
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      const std::string state = e.sqlstate();
      if (state == "IV002") {
        out.kind = Kind::kSlowPath;
        return absl::OkStatus();
      }
      if (state == "IV001") {
        // 'INSUFFICIENT|requested|available|sku_id' (the SKU id last: it may contain '|').
        std::string msg = e.what();
        auto start = msg.find("INSUFFICIENT|");
        if (start != std::string::npos) {
          msg = msg.substr(start + 13);
          msg = msg.substr(0, msg.find('\n'));
          const auto p1 = msg.find('|');
          const auto p2 = p1 == std::string::npos ? p1 : msg.find('|', p1 + 1);
          if (p2 != std::string::npos) {
            out.kind = Kind::kInsufficient;
            out.requested = std::stoll(msg.substr(0, p1));
            out.available = std::stoll(msg.substr(p1 + 1, p2 - p1 - 1));
            out.sku_id = msg.substr(p2 + 1);
            return absl::OkStatus();
          }
        }
      }
      return pg::StatusFromCurrentException();
    } catch (...) {
      return pg::StatusFromCurrentException();
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<bool> PgStockRepository::PersistFlashGrantInOneStatement(
    const Reservation& r, int64_t epoch, events::v1::EventEnvelope& event) {
  if (r.lines.size() != 1) return false;
  auto row = OutboxRowOf(event, topic_);
  if (!row.ok()) return row.status();
  bool persisted = false;
  auto s = RunGrantStatement(pool_, [&](pqxx::nontransaction& tx) -> absl::Status {
    auto rows =
        pg::Exec(tx, kPersistGrantFunction, r.order_id, static_cast<int>(r.order_type),
                 r.fingerprint, ToUnixMillis(r.expires_at), ToUnixMillis(r.created_at),
                 r.lines[0].sku_id, r.lines[0].quantity, epoch, r.grant_id, event.event_id(),
                 topic_, row->partition_key, row->event_type, pqxx::binarystring(row->payload),
                 event.traceparent(), row->occurred_at_ms);
    persisted = rows.size() == 1 && rows[0][0].as<std::string>() == "persisted";
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return persisted;
}

absl::StatusOr<std::vector<bool>> PgStockRepository::PersistFlashGrantsInOneStatement(
    std::vector<GrantToPersist>& grants) {
  std::vector<std::string> order_ids, fingerprints, skus, grant_ids, event_ids, keys, types,
      payloads, traceparents;
  std::vector<int> order_types;
  std::vector<int64_t> expires, nows, qtys, epochs, occurred;
  for (auto& g : grants) {
    const Reservation& r = g.reservation;
    if (r.lines.size() != 1) return absl::InvalidArgumentError("a grant has one line");
    auto row = OutboxRowOf(g.event, topic_);
    if (!row.ok()) return row.status();
    order_ids.push_back(r.order_id);
    order_types.push_back(static_cast<int>(r.order_type));
    fingerprints.push_back(r.fingerprint);
    expires.push_back(ToUnixMillis(r.expires_at));
    nows.push_back(ToUnixMillis(r.created_at));
    skus.push_back(r.lines[0].sku_id);
    qtys.push_back(r.lines[0].quantity);
    epochs.push_back(g.epoch);
    grant_ids.push_back(r.grant_id);
    event_ids.push_back(g.event.event_id());
    keys.push_back(row->partition_key);
    types.push_back(row->event_type);
    payloads.push_back(std::move(row->payload));
    traceparents.push_back(g.event.traceparent());
    occurred.push_back(row->occurred_at_ms);
  }
  std::vector<bool> out(grants.size(), false);
  auto s = RunGrantStatement(pool_, [&](pqxx::nontransaction& tx) -> absl::Status {
    auto rows = pg::Exec(tx, kPersistGrantsFunction, TextArray(order_ids), IntArray(order_types),
                         TextArray(fingerprints), IntArray(expires), IntArray(nows),
                         TextArray(skus), IntArray(qtys), IntArray(epochs), TextArray(grant_ids),
                         TextArray(event_ids), topic_, TextArray(keys), TextArray(types),
                         ByteaArray(payloads), TextArray(traceparents), IntArray(occurred));
    if (rows.size() != 1) return absl::InternalError("inventory_persist_flash_grants: no row");
    const auto outcomes = ArrayValues(rows[0][0]);
    if (outcomes.size() != grants.size()) {
      return absl::InternalError("inventory_persist_flash_grants: outcome count differs");
    }
    for (size_t i = 0; i < outcomes.size(); ++i) out[i] = outcomes[i] == "persisted";
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<InvariantReport> CheckInvariantsInTx(pqxx::transaction_base& tx,
                                                    const std::vector<std::string>& ids) {
  return Guard([&]() -> absl::StatusOr<InvariantReport> {
    InvariantReport report;
    pqxx::result rows = ids.empty() ? pg::Exec(tx, kCheckInvariants, nullptr)
                                    : pg::Exec(tx, kCheckInvariants, pg::TextArray(ids));
    std::map<std::string, bool> seen;
    for (const auto& r : rows) {
      const std::string sku = r[0].as<std::string>();
      seen[sku] = true;
      const int64_t available = r[1].as<int64_t>(), reserved = r[2].as<int64_t>(),
                    sold = r[3].as<int64_t>(), lowest = r[4].as<int64_t>(),
                    received = r[5].as<int64_t>(), lines_reserved = r[6].as<int64_t>(),
                    lines_sold = r[7].as<int64_t>(), bad_lines = r[8].as<int64_t>();
      ++report.checked_sku_count;
      if (available + reserved + sold != received) {
        report.violations.push_back(
            {sku, "total_received_balance",
             absl::StrCat("available ", available, " + reserved ", reserved, " + sold ", sold,
                          " = ", available + reserved + sold, " but total_received is ",
                          received)});
      }
      if (lowest < 0 || available < 0 || reserved < 0 || sold < 0) {
        report.violations.push_back(
            {sku, "non_negative",
             absl::StrCat("a bucket counter is negative (lowest ", lowest, ")")});
      }
      if (reserved != lines_reserved) {
        report.violations.push_back(
            {sku, "reserved_matches_reservations",
             absl::StrCat("buckets hold ", reserved, " reserved but RESERVED lines allocate ",
                          lines_reserved)});
      }
      if (sold != lines_sold) {
        report.violations.push_back(
            {sku, "sold_matches_reservations",
             absl::StrCat("buckets hold ", sold, " sold but confirmed lines allocate ",
                          lines_sold)});
      }
      if (bad_lines > 0) {
        report.violations.push_back(
            {sku, "allocations_match_lines",
             absl::StrCat(bad_lines,
                          " live lines whose allocations do not add up to their quantity")});
      }
    }
    for (const auto& id : ids) {
      if (!seen.count(id)) return SkuNotFound(id);
    }
    return report;
  });
}

absl::StatusOr<InvariantReport> PgStockRepository::CheckInvariants(
    const std::vector<std::string>& ids) {
  InvariantReport report;
  auto s = pool_.InTransaction(
      [&](pqxx::transaction_base& tx) -> absl::Status {
        auto r = CheckInvariantsInTx(tx, ids);
        if (!r.ok()) return r.status();
        report = *std::move(r);
        return absl::OkStatus();
      },
      {.isolation = pg::Isolation::kRepeatableRead});
  if (!s.ok()) return s;
  return report;
}

}  // namespace orderly::inventory
