#include "pg_order_repository.hpp"

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>

#include "orderly/core/status.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/events/outbox_rows.hpp"
#include "orderly/pg/json_rows.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/pg/query.hpp"
#include "orderly/pricing/pricing.hpp"
#include "pg_marketing_repository.hpp"
#include "pg_util.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
using Tx = pqxx::transaction_base;

#define ORDERLY_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

// Column list every order read uses; RowToRecord reads it by position.
constexpr char kOrderColumns[] =
    "order_id, COALESCE(parent_order_id, 0), is_top_level, is_fulfillment_unit, buyer_id, "
    "merchant_id, warehouse_id, order_type, status, status_before_after_sale, currency, "
    "items_total, activity_discount, member_discount, coupon_discount, points_discount, "
    "points_used, shipping_fee, payable_total, shipping_address, "
    "array_to_string(coupon_ids, chr(31)), client_note, request_id, request_fingerprint, " ORDERLY_US(
        "payment_deadline") ", " ORDERLY_US("paid_at") ", " ORDERLY_US("shipped_at") ", " ORDERLY_US("delivered_at") ", " ORDERLY_US("completed_at") ", " ORDERLY_US("cancelled_at") ", " ORDERLY_US("created_at") ", " ORDERLY_US("updated_at") ", "
    "version, cancel_reason, cancel_reason_text, payment_id";

const pg::Query kFindSql{
    "order.find", absl::StrCat("SELECT ", kOrderColumns, " FROM orders WHERE order_id = $1")};
const pg::Query kLockSql{"order.lock", absl::StrCat("SELECT ", kOrderColumns,
                                                    " FROM orders WHERE order_id = $1 FOR UPDATE")};
const pg::Query kLockChildrenSql{
    "order.lock_children",
    absl::StrCat("SELECT ", kOrderColumns,
                 " FROM orders WHERE parent_order_id = $1 ORDER BY order_id FOR UPDATE")};
const pg::Query kFindByRequestSql{
    "order.find_by_request",
    absl::StrCat("SELECT ", kOrderColumns,
                 " FROM orders WHERE buyer_id = $1 AND request_id = $2 AND is_top_level")};

// One round trip each (stored functions of migration 0003).
const pg::Query kCreateSql{"order.create", R"sql(
SELECT order_create($1::jsonb, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb, $6::bigint,
                    $7::timestamptz, $8, $9::text[], $10::bigint, $11::jsonb))sql"};
const pg::Query kPutIntentSql{"order.put_intent",
                              "SELECT order_put_intent($1::bigint, $2, $3::timestamptz)"};
const pg::Query kDeleteIntentSql{"order.delete_intent",
                                 "DELETE FROM create_intents WHERE order_id = $1"};
const pg::Query kClaimStaleIntentsSql{"order.claim_stale_intents", R"sql(
SELECT order_id FROM create_intents WHERE created_at < $1::timestamptz
ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)sql"};

const pg::Query kApplyChangeSql{"order.apply_change", R"sql(
WITH u AS (
  UPDATE orders SET
    status = $3::smallint,
    version = version + 1,
    updated_at = $9::timestamptz,
    paid_at = CASE WHEN $10::boolean THEN $9::timestamptz ELSE paid_at END,
    shipped_at = CASE WHEN $11::boolean THEN $9::timestamptz ELSE shipped_at END,
    delivered_at = CASE WHEN $12::boolean THEN $9::timestamptz ELSE delivered_at END,
    completed_at = CASE WHEN $13::boolean THEN $9::timestamptz ELSE completed_at END,
    cancelled_at = CASE WHEN $14::boolean THEN $9::timestamptz ELSE cancelled_at END,
    cancel_reason = CASE WHEN $15::smallint >= 0 THEN $15::smallint ELSE cancel_reason END,
    cancel_reason_text = CASE WHEN $15::smallint >= 0 THEN $16 ELSE cancel_reason_text END,
    payment_id = CASE WHEN $17::boolean THEN $18 ELSE payment_id END,
    status_before_after_sale = CASE WHEN $19::smallint >= 0 THEN $19::smallint
                                    ELSE status_before_after_sale END
  WHERE order_id = $1 AND version = $2
  RETURNING order_id)
INSERT INTO order_status_history (order_id, from_status, to_status, action, actor_role, actor_id,
                                  reason, occurred_at)
SELECT order_id, $4::smallint, $3::smallint, $5, $6::smallint, $7, $8, $9::timestamptz FROM u
RETURNING id)sql"};

const pg::Query kChangeAddressSql{"order.change_address", R"sql(
WITH u AS (
  UPDATE orders SET shipping_address = $3::bytea, version = version + 1,
                    updated_at = $7::timestamptz
  WHERE order_id = $1 AND version = $2
  RETURNING order_id)
INSERT INTO order_status_history (order_id, from_status, to_status, action, actor_role, actor_id,
                                  reason, occurred_at)
SELECT order_id, $4::smallint, $4::smallint, 'change_address', $5::smallint, $6, '',
       $7::timestamptz FROM u
RETURNING id)sql"};

const pg::Query kCurrentVersionSql{"order.current_version",
                                   "SELECT version FROM orders WHERE order_id = $1"};

const pg::Query kDeleteTimerSql{"order.delete_timer",
                                "DELETE FROM order_timers WHERE order_id = $1"};
const pg::Query kClaimDueTimersSql{"order.claim_due_timers", R"sql(
SELECT order_id FROM order_timers WHERE due_at <= $1::timestamptz
ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)sql"};
const pg::Query kPostponeTimerSql{"order.postpone_timer",
                                  "UPDATE order_timers SET due_at = $2::timestamptz, attempts = "
                                  "attempts + 1 WHERE order_id = $1"};
const pg::Query kOverdueSql{"order.overdue", R"sql(
SELECT order_id FROM orders
WHERE status = 1 AND is_top_level AND payment_deadline <= $1::timestamptz
ORDER BY payment_deadline LIMIT $2)sql"};

const pg::Query kLinesOfTopSql{
    "order.lines_of_top",
    "SELECT snapshot FROM order_lines WHERE top_order_id = $1 ORDER BY line_no"};
const pg::Query kLinesOfUnitSql{
    "order.lines_of_unit", "SELECT snapshot FROM order_lines WHERE order_id = $1 ORDER BY line_no"};
const pg::Query kDiscountsSql{
    "order.discounts",
    "SELECT kind, source_id, amount, description FROM order_discounts WHERE top_order_id = $1 "
    "ORDER BY seq"};
const pg::Query kHistorySql{
    "order.history",
    "SELECT from_status, to_status, action, actor_role, actor_id, reason, " ORDERLY_US(
        "occurred_at") " FROM order_status_history WHERE order_id = $1 ORDER BY id"};
const pg::Query kChildrenSql{
    "order.children", "SELECT order_id FROM orders WHERE parent_order_id = $1 ORDER BY order_id"};
const pg::Query kPageLinesSql{"order.page_lines", R"sql(
SELECT top_order_id, order_id, snapshot FROM order_lines
WHERE top_order_id = ANY($1::bigint[]) OR order_id = ANY($1::bigint[])
ORDER BY top_order_id, line_no)sql"};

// List filters shared by the three views; '' = filter not set.
constexpr char kListFilters[] = R"sql(
  AND (NULLIF($2, '') IS NULL OR o.status = ANY(NULLIF($2, '')::smallint[]))
  AND (NULLIF($3, '') IS NULL OR o.created_at >= NULLIF($3, '')::timestamptz)
  AND (NULLIF($4, '') IS NULL OR o.created_at < NULLIF($4, '')::timestamptz)
  AND (NULLIF($5, '') IS NULL OR o.payable_total >= NULLIF($5, '')::bigint)
  AND (NULLIF($6, '') IS NULL OR o.payable_total <= NULLIF($6, '')::bigint)
  AND ($7 = '' OR EXISTS (SELECT 1 FROM order_lines l
                          WHERE (l.top_order_id = o.order_id OR l.order_id = o.order_id)
                            AND l.sku_id = $7))
  AND (NULLIF($8, '') IS NULL OR (o.created_at, o.order_id) <
       (timestamptz 'epoch' + NULLIF($8, '')::bigint * interval '1 microsecond',
        NULLIF($9, '')::bigint))
)sql";
constexpr char kListTail[] = " ORDER BY o.created_at DESC, o.order_id DESC LIMIT $10";
const pg::Query kListBuyerSql{
    "order.list_buyer", absl::StrCat("SELECT ", kOrderColumns,
                                     " FROM orders o WHERE o.is_top_level AND o.buyer_id = $1 ",
                                     kListFilters, kListTail)};
const pg::Query kListMerchantSql{
    "order.list_merchant",
    absl::StrCat("SELECT ", kOrderColumns,
                 " FROM orders o WHERE o.is_fulfillment_unit AND o.merchant_id = $1 ", kListFilters,
                 kListTail)};
const pg::Query kListAdminSql{
    "order.list_admin",
    absl::StrCat(
        "SELECT ", kOrderColumns,
        " FROM orders o WHERE o.is_top_level AND ($1 = '' OR o.buyer_id = $1) "
        " AND ($11 = '' OR EXISTS (SELECT 1 FROM order_lines m WHERE m.top_order_id = o.order_id "
        "                           AND m.merchant_id = $11)) ",
        kListFilters, kListTail)};

void SetTime(const pqxx::field& f, google::protobuf::Timestamp* out) {
  if (!f.is_null()) *out = ToProtoTimestamp(FromUnixMicros(f.as<int64_t>()));
}

OrderRecord RowToRecord(const pqxx::row& r) {
  OrderRecord rec;
  ov1::Order& o = rec.order;
  o.set_order_id(r[0].c_str());
  const int64_t parent = r[1].as<int64_t>();
  if (parent != 0) o.set_parent_order_id(std::to_string(parent));
  rec.top_level = r[2].as<bool>();
  rec.fulfillment_unit = r[3].as<bool>();
  o.set_buyer_id(r[4].c_str());
  o.set_merchant_id(r[5].c_str());
  rec.warehouse_id = r[6].c_str();
  o.set_order_type(static_cast<common::v1::OrderType>(r[7].as<int>()));
  o.set_status(static_cast<ov1::OrderStatus>(r[8].as<int>()));
  o.set_status_before_after_sale(static_cast<ov1::OrderStatus>(r[9].as<int>()));
  const std::string currency = r[10].c_str();
  auto money = [&](google::protobuf::Message* m, int col) {
    auto* money = static_cast<common::v1::Money*>(m);
    money->set_amount_minor(r[col].as<int64_t>());
    money->set_currency_code(currency);
  };
  ov1::PriceBreakdown* p = o.mutable_price();
  money(p->mutable_items_total(), 11);
  money(p->mutable_activity_discount(), 12);
  money(p->mutable_member_discount(), 13);
  money(p->mutable_coupon_discount(), 14);
  money(p->mutable_points_discount(), 15);
  p->set_points_used(r[16].as<int64_t>());
  money(p->mutable_shipping_fee(), 17);
  money(p->mutable_payable_total(), 18);
  pqxx::binarystring addr(r[19]);
  o.mutable_shipping_address()->ParseFromArray(addr.data(), static_cast<int>(addr.size()));
  for (auto& c : SplitUnitSeparated(r[20].c_str())) o.add_coupon_ids(c);
  o.set_client_note(r[21].c_str());
  rec.request_id = r[22].c_str();
  rec.request_fingerprint = r[23].c_str();
  SetTime(r[24], o.mutable_payment_deadline());
  SetTime(r[25], o.mutable_paid_at());
  SetTime(r[26], o.mutable_shipped_at());
  SetTime(r[27], o.mutable_delivered_at());
  SetTime(r[28], o.mutable_completed_at());
  SetTime(r[29], o.mutable_cancelled_at());
  SetTime(r[30], o.mutable_created_at());
  SetTime(r[31], o.mutable_updated_at());
  o.set_version(r[32].as<int64_t>());
  o.set_cancel_reason(static_cast<ov1::CancelReason>(r[33].as<int>()));
  o.set_cancel_reason_text(r[34].c_str());
  o.set_payment_id(r[35].c_str());
  return rec;
}

absl::StatusOr<std::optional<OrderRecord>> FindOne(Tx& tx, const pg::Query& sql,
                                                   const std::string& a,
                                                   const std::optional<std::string>& b) {
  try {
    pqxx::result res = b ? pg::Exec(tx, sql, a, *b) : pg::Exec(tx, sql, a);
    if (res.empty()) return std::optional<OrderRecord>();
    return std::optional<OrderRecord>(RowToRecord(res[0]));
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

// The MESSAGE of a RAISE EXCEPTION: libpq reports it as "ERROR:  <message>\n...".
std::string RaisedMessage(std::string_view what) {
  if (what.substr(0, 6) == "ERROR:") what.remove_prefix(6);
  while (!what.empty() && what.front() == ' ') what.remove_prefix(1);
  return std::string(what.substr(0, what.find('\n')));
}

absl::Status NotFound(int64_t order_id) {
  return NotFoundError("order", std::to_string(order_id), "ORDER_NOT_FOUND");
}

absl::StatusOr<std::vector<int64_t>> Ids(Tx& tx, const pg::Query& sql, const std::string& a,
                                         int limit) {
  try {
    std::vector<int64_t> out;
    for (const auto& row : pg::Exec(tx, sql, a, limit)) out.push_back(row[0].as<int64_t>());
    return out;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

std::string Serialize(const google::protobuf::Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

// The rows order_create inserts, as JSON arrays (pg::JsonRows).
void AddOrderRows(const OrderRecord& rec, int64_t now_us, pg::JsonRows& orders,
                  pg::JsonRows& history) {
  const ov1::Order& o = rec.order;
  const auto& pr = o.price();
  orders.Row()
      .Int("order_id", rec.id())
      .Bool("is_top_level", rec.top_level)
      .Bool("is_fulfillment_unit", rec.fulfillment_unit)
      .Text("buyer_id", o.buyer_id())
      .Text("merchant_id", o.merchant_id())
      .Text("warehouse_id", rec.warehouse_id)
      .Int("order_type", o.order_type())
      .Int("status", o.status())
      .Text("currency", pr.payable_total().currency_code())
      .Int("items_total", pr.items_total().amount_minor())
      .Int("activity_discount", pr.activity_discount().amount_minor())
      .Int("member_discount", pr.member_discount().amount_minor())
      .Int("coupon_discount", pr.coupon_discount().amount_minor())
      .Int("points_discount", pr.points_discount().amount_minor())
      .Int("points_used", pr.points_used())
      .Int("shipping_fee", pr.shipping_fee().amount_minor())
      .Int("payable_total", pr.payable_total().amount_minor())
      .Bytea("shipping_address", Serialize(o.shipping_address()))
      .TextArray("coupon_ids", {o.coupon_ids().begin(), o.coupon_ids().end()})
      .Text("client_note", o.client_note())
      .Text("request_id", rec.request_id)
      .Text("request_fingerprint", rec.request_fingerprint)
      .TimeMicros("payment_deadline", ToUnixMicros(FromProtoTimestamp(o.payment_deadline())))
      .TimeMicros("created_at", now_us)
      .TimeMicros("updated_at", now_us);
  if (!o.parent_order_id().empty()) orders.Int("parent_order_id", std::stoll(o.parent_order_id()));
  const auto& h = o.status_history(0);
  history.Row()
      .Int("order_id", rec.id())
      .Int("from_status", 0)
      .Int("to_status", h.to_status())
      .Text("action", "create")
      .Int("actor_role", h.actor().role())
      .Text("actor_id", h.actor().id())
      .Text("reason", "")
      .TimeMicros("occurred_at", now_us);
}

void AddLineRows(const CreatePlan& plan, int64_t top_id, pg::JsonRows& lines) {
  for (size_t i = 0; i < plan.lines.size(); ++i) {
    const ov1::OrderLine& l = plan.lines[i];
    lines.Row()
        .Int("top_order_id", top_id)
        .Int("line_no", std::stoll(l.line_id()))
        .Int("order_id", plan.unit_of_line[i])
        .Text("sku_id", l.sku_id())
        .Text("merchant_id", l.merchant_id())
        .Int("quantity", l.quantity())
        .Int("unit_price", l.unit_price().amount_minor())
        .Int("base_amount", l.base_amount().amount_minor())
        .Int("promotion_discount", l.promotion_discount().amount_minor())
        .Int("member_discount", l.member_discount().amount_minor())
        .Int("coupon_discount", l.coupon_discount().amount_minor())
        .Int("points_discount", l.points_discount().amount_minor())
        .Int("final_amount", l.final_amount().amount_minor())
        .Bytea("snapshot", Serialize(l));
  }
}

void AddDiscountRows(const CreatePlan& plan, int64_t top_id, pg::JsonRows& discounts,
                     pg::JsonRows& allocations) {
  const ov1::Order& top = plan.orders[0].order;
  for (int i = 0; i < top.discount_lines_size(); ++i) {
    const auto& d = top.discount_lines(i);
    discounts.Row()
        .Int("top_order_id", top_id)
        .Int("seq", i)
        .Int("kind", d.kind())
        .Text("source_id", d.source_id())
        .Int("amount", d.amount().amount_minor())
        .Text("description", d.description());
  }
  for (const auto& a : plan.allocations) {
    allocations.Row()
        .Int("top_order_id", top_id)
        .Int("seq", a.discount_seq)
        .Int("line_no", a.line_no)
        .Int("amount", a.amount_minor);
  }
}

}  // namespace

int64_t OrderRecord::id() const { return std::stoll(order.order_id()); }

absl::StatusOr<std::optional<OrderRecord>> PgOrderTx::Find(int64_t order_id) {
  return FindOne(tx_, kFindSql, std::to_string(order_id), std::nullopt);
}

absl::StatusOr<std::optional<OrderRecord>> PgOrderTx::FindByRequest(const std::string& buyer_id,
                                                                    const std::string& request_id) {
  return FindOne(tx_, kFindByRequestSql, buyer_id, request_id);
}

absl::Status PgOrderRepository::Create(const CreatePlan& plan, TimePoint now,
                                       const CreateWrite& write) {
  if (plan.orders.empty()) return absl::InternalError("create plan without orders");
  std::vector<events::v1::EventEnvelope> created = write.events;
  auto events_json = events::OutboxRowsJson(created, {.topic = topic_});
  if (!events_json.ok()) return events_json.status();
  const int64_t now_us = ToUnixMicros(now);
  const int64_t top_id = plan.orders[0].id();
  pg::JsonRows orders, lines, discounts, allocations, history;
  for (const OrderRecord& rec : plan.orders) AddOrderRows(rec, now_us, orders, history);
  AddLineRows(plan, top_id, lines);
  AddDiscountRows(plan, top_id, discounts, allocations);
  // order_create commits by itself: no BEGIN/COMMIT around it.
  return pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    try {
      pg::Exec(tx, kCreateSql, orders.Json(), lines.Json(), discounts.Json(), allocations.Json(),
               history.Json(), top_id, PgTime(plan.timer_due), write.buyer_id,
               pg::TextArray(write.coupon_ids), write.points, *events_json);
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "OC001") {
        const std::string coupon = RaisedMessage(e.what());
        return FailedPreconditionError(
            pricing::kCouponNotUsable, absl::StrCat("coupon/", coupon),
            "the coupon was taken by another order",
            {{"coupon_id", coupon}, {"why", std::string(pricing::kWhyNotAvailable)}});
      }
      if (e.sqlstate() == "OC002") {
        return FailedPreconditionError(pricing::kPointsInsufficient,
                                       absl::StrCat("points/", write.buyer_id),
                                       "the points balance changed since pricing",
                                       {{"requested", std::to_string(write.points)}});
      }
      throw;  // WithConnection maps it (and replaces a broken connection)
    }
  });
}

absl::Status PgOrderRepository::InsertIntent(int64_t order_id, const std::string& buyer_id,
                                             TimePoint now) {
  // order_put_intent commits by itself, asynchronously.
  return pool_.WithConnection([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    pg::Exec(tx, kPutIntentSql, order_id, buyer_id, PgTime(now));
    return absl::OkStatus();
  });
}

absl::Status PgOrderTx::DeleteIntent(int64_t order_id) {
  try {
    pg::Exec(tx_, kDeleteIntentSql, order_id);
    return absl::OkStatus();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<std::vector<int64_t>> PgOrderTx::ClaimStaleIntents(TimePoint before, int limit) {
  return Ids(tx_, kClaimStaleIntentsSql, PgTime(before), limit);
}

absl::StatusOr<OrderRecord> PgOrderTx::Lock(int64_t order_id) {
  auto rec = FindOne(tx_, kLockSql, std::to_string(order_id), std::nullopt);
  if (!rec.ok()) return rec.status();
  if (!rec->has_value()) return NotFound(order_id);
  return std::move(**rec);
}

absl::StatusOr<std::vector<OrderRecord>> PgOrderTx::LockChildren(int64_t parent_id) {
  try {
    std::vector<OrderRecord> out;
    for (const auto& row : pg::Exec(tx_, kLockChildrenSql, parent_id)) {
      out.push_back(RowToRecord(row));
    }
    return out;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

namespace {
absl::Status StaleVersion(Tx& tx, int64_t order_id, int64_t expected) {
  std::string current = "unknown";
  try {
    auto res = pg::Exec(tx, kCurrentVersionSql, order_id);
    if (!res.empty()) current = res[0][0].c_str();
  } catch (...) {
  }
  return ErrorWithInfo(absl::StatusCode::kAborted,
                       absl::StrCat("order ", order_id, " is no longer at version ", expected,
                                    " (now ", current, "); re-read and retry"),
                       "STALE_VERSION", {{"current_version", current}});
}
}  // namespace

absl::StatusOr<int64_t> PgOrderTx::ApplyChange(const StatusChange& c) {
  try {
    auto res =
        pg::Exec(tx_, kApplyChangeSql, c.order_id, c.expected_version, static_cast<int>(c.to),
                 static_cast<int>(c.from), c.action, static_cast<int>(c.actor.role()), c.actor.id(),
                 c.reason, PgTime(c.at), c.set_paid_at, c.set_shipped_at, c.set_delivered_at,
                 c.set_completed_at, c.set_cancelled_at,
                 c.cancel_reason ? static_cast<int>(*c.cancel_reason) : -1, c.cancel_reason_text,
                 c.payment_id.has_value(), c.payment_id.value_or(""),
                 c.status_before_after_sale ? static_cast<int>(*c.status_before_after_sale) : -1);
    if (res.empty()) return StaleVersion(tx_, c.order_id, c.expected_version);
    return c.expected_version + 1;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<int64_t> PgOrderTx::ChangeAddress(int64_t order_id, int64_t expected_version,
                                                 ov1::OrderStatus status,
                                                 const common::v1::Address& address,
                                                 const common::v1::Actor& actor, TimePoint at) {
  try {
    auto res =
        pg::Exec(tx_, kChangeAddressSql, order_id, expected_version, ByteaHex(Serialize(address)),
                 static_cast<int>(status), static_cast<int>(actor.role()), actor.id(), PgTime(at));
    if (res.empty()) return StaleVersion(tx_, order_id, expected_version);
    return expected_version + 1;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgOrderTx::DeleteTimer(int64_t order_id) {
  try {
    pg::Exec(tx_, kDeleteTimerSql, order_id);
    return absl::OkStatus();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<std::vector<int64_t>> PgOrderTx::ClaimDueTimers(TimePoint now, int limit) {
  return Ids(tx_, kClaimDueTimersSql, PgTime(now), limit);
}

absl::Status PgOrderTx::PostponeTimer(int64_t order_id, TimePoint due) {
  try {
    pg::Exec(tx_, kPostponeTimerSql, order_id, PgTime(due));
    return absl::OkStatus();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<std::vector<int64_t>> PgOrderTx::OverdueOrders(TimePoint now, int limit) {
  return Ids(tx_, kOverdueSql, PgTime(now), limit);
}

absl::StatusOr<OrderRecord> PgOrderTx::LoadFull(int64_t order_id) {
  auto found = FindOne(tx_, kFindSql, std::to_string(order_id), std::nullopt);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound(order_id);
  OrderRecord rec = std::move(**found);
  ov1::Order& o = rec.order;
  try {
    for (const auto& row :
         pg::Exec(tx_, rec.top_level ? kLinesOfTopSql : kLinesOfUnitSql, order_id)) {
      pqxx::binarystring b(row[0]);
      o.add_lines()->ParseFromArray(b.data(), static_cast<int>(b.size()));
    }
    if (rec.top_level) {
      const std::string currency = o.price().payable_total().currency_code();
      for (const auto& row : pg::Exec(tx_, kDiscountsSql, order_id)) {
        auto* d = o.add_discount_lines();
        d->set_kind(static_cast<ov1::DiscountKind>(row[0].as<int>()));
        d->set_source_id(row[1].c_str());
        d->mutable_amount()->set_amount_minor(row[2].as<int64_t>());
        d->mutable_amount()->set_currency_code(currency);
        d->set_description(row[3].c_str());
      }
      for (const auto& row : pg::Exec(tx_, kChildrenSql, order_id)) {
        o.add_child_order_ids(row[0].c_str());
      }
    }
    for (const auto& row : pg::Exec(tx_, kHistorySql, order_id)) {
      auto* h = o.add_status_history();
      h->set_from_status(static_cast<ov1::OrderStatus>(row[0].as<int>()));
      h->set_to_status(static_cast<ov1::OrderStatus>(row[1].as<int>()));
      h->set_action(row[2].c_str());
      h->mutable_actor()->set_role(static_cast<common::v1::Role>(row[3].as<int>()));
      h->mutable_actor()->set_id(row[4].c_str());
      h->set_reason(row[5].c_str());
      *h->mutable_occurred_at() = ToProtoTimestamp(FromUnixMicros(row[6].as<int64_t>()));
    }
    return rec;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<std::vector<ov1::Order>> PgOrderTx::List(const ListQuery& q) {
  std::vector<int64_t> statuses(q.statuses.begin(), q.statuses.end());
  const std::string status_arr = statuses.empty() ? "" : pg::IntArray(statuses);
  const std::string after_s = q.created_after ? PgTime(*q.created_after) : "";
  const std::string before_s = q.created_before ? PgTime(*q.created_before) : "";
  const std::string min_s = q.min_total ? std::to_string(*q.min_total) : "";
  const std::string max_s = q.max_total ? std::to_string(*q.max_total) : "";
  const std::string cur_t = q.after ? std::to_string(q.after->first) : "";
  const std::string cur_id = q.after ? std::to_string(q.after->second) : "";
  try {
    pqxx::result res;
    switch (q.view) {
      case ListQuery::View::kBuyer:
        res = pg::Exec(tx_, kListBuyerSql, q.buyer_id, status_arr, after_s, before_s, min_s, max_s,
                       q.sku_id, cur_t, cur_id, q.limit);
        break;
      case ListQuery::View::kMerchant:
        res = pg::Exec(tx_, kListMerchantSql, q.merchant_id, status_arr, after_s, before_s, min_s,
                       max_s, q.sku_id, cur_t, cur_id, q.limit);
        break;
      case ListQuery::View::kAdmin:
        res = pg::Exec(tx_, kListAdminSql, q.buyer_id, status_arr, after_s, before_s, min_s, max_s,
                       q.sku_id, cur_t, cur_id, q.limit, q.merchant_id);
        break;
    }
    std::vector<OrderRecord> recs;
    std::vector<int64_t> ids;
    for (const auto& row : res) {
      recs.push_back(RowToRecord(row));
      ids.push_back(recs.back().id());
    }
    std::vector<ov1::Order> out;
    if (recs.empty()) return out;
    auto lines = pg::Exec(tx_, kPageLinesSql, pg::IntArray(ids));
    for (OrderRecord& rec : recs) {
      const int64_t id = rec.id();
      for (const auto& row : lines) {
        const int64_t top = row[0].as<int64_t>();
        const int64_t unit = row[1].as<int64_t>();
        if ((rec.top_level && top == id) || (!rec.top_level && unit == id)) {
          pqxx::binarystring b(row[2]);
          rec.order.add_lines()->ParseFromArray(b.data(), static_cast<int>(b.size()));
        }
      }
      out.push_back(std::move(rec.order));
    }
    return out;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgOrderTx::UseFrozenBenefits(int64_t order_id) {
  return PgMarketingRepository::Use(tx_, order_id);
}

absl::Status PgOrderTx::UnfreezeBenefits(int64_t order_id) {
  return PgMarketingRepository::Unfreeze(tx_, order_id);
}

absl::Status PgOrderTx::AppendEvent(events::v1::EventEnvelope& event) {
  try {
    auto seq = events::Append(tx_, event, {.topic = topic_, .partition_key = ""});
    return seq.ok() ? absl::OkStatus() : seq.status();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgOrderRepository::InTransaction(const OrderTxFn& fn) {
  return pool_.InTransaction([&](pqxx::transaction_base& tx) {
    PgOrderTx otx(tx, topic_);
    return fn(otx);
  });
}

absl::StatusOr<OrderRepository::CreateInputs> PgOrderRepository::ReadForCreate(
    const std::string& buyer_id, const std::vector<std::string>& coupon_ids, int64_t order_id) {
  CreateInputs in;
  absl::Status s = pool_.WithConnection([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto account = PgMarketingRepository::LoadBuyer(tx, buyer_id, coupon_ids, order_id);
    if (!account.ok()) return account.status();
    in.account = std::move(*account);
    if (!in.account.order_exists) return absl::OkStatus();
    PgOrderTx otx(tx, topic_);
    auto found = otx.Find(order_id);
    if (!found.ok()) return found.status();
    in.existing = std::move(*found);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return in;
}

}  // namespace orderly::order_core
