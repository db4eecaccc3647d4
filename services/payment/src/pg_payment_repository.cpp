#include "pg_payment_repository.hpp"

#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "channel/wire_util.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/pg/guard.hpp"
#include "orderly/pg/query.hpp"

namespace orderly::payment {
namespace {

// app_params is stored form-encoded: its values (Alipay's orderStr is itself a form) hold '&' and
// '='. Rows written before migration 0002 were rewritten by it; an unreadable value reads as none.
std::map<std::string, std::string> AppParamsFromColumn(const std::string& text) {
  if (text.empty()) return {};
  auto params = wire::ParseFormStrict(text);
  return params.ok() ? std::move(*params) : std::map<std::string, std::string>{};
}

// Times cross the boundary as Unix milliseconds (0 = NULL).
#define TS(col) "COALESCE((extract(epoch FROM " col ") * 1000)::bigint, 0)"
#define AT(n) \
  "CASE WHEN $" #n "::bigint = 0 THEN NULL ELSE to_timestamp($" #n "::bigint / 1000.0) END"

constexpr char kPaymentColumns[] =
    "payment_id, order_id, request_id, fingerprint, channel, method, amount_minor, currency, "
    "status, description, "
    "pay_url, qr_code, app_params, COALESCE(channel_transaction_id, ''), failure_reason, "
    "refunded_minor, paid_after_close, "
    "close_at_channel, " TS("expires_at") ", " TS("paid_at") ", " TS("closed_at") ", " TS(
        "created_at") ", " TS("updated_at") ", " TS("query_until") ", query_attempts";

constexpr char kRefundColumns[] =
    "refund_id, payment_id, order_id, request_id, fingerprint, amount_minor, currency, reason, "
    "reason_text, after_sale_case_id, "
    "status, channel_refund_id, last_error, retry_request_id, attempts, in_doubt, " TS(
        "created_at") ", " TS("updated_at") ", " TS("succeeded_at");

const pg::Query kInsertPayment{
    "payment.insert_payment",
    "INSERT INTO payments (payment_id, order_id, request_id, fingerprint, channel, method, "
    "amount_minor, currency, status, "
    "description, expires_at, created_at, updated_at, next_query_at, query_until) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING', $9, " AT(10) ", " AT(11) ", " AT(
        11) ", " AT(12) ", " AT(13) ")"};
const pg::Query kSetChannelLinks{
    "payment.set_channel_links",
    "UPDATE payments SET pay_url = $2, qr_code = $3, app_params = $4 WHERE payment_id = $1"};
const pg::Query kMarkSucceeded{"payment.mark_succeeded", "UPDATE payments SET status = 'SUCCEEDED', channel_transaction_id = $2, paid_at = " AT(3) ", paid_after_close = $4, "
    "updated_at = " AT(5) ", close_at_channel = false, next_query_at = NULL WHERE payment_id = $1"};
const pg::Query kMarkFailed{"payment.mark_failed", "UPDATE payments SET status = 'FAILED', failure_reason = $2, updated_at = " AT(3) ", next_query_at = NULL "
    "WHERE payment_id = $1"};
// A closed payment is still queried until query_until: a payment that slipped in is found.
const pg::Query kMarkClosed{"payment.mark_closed", "UPDATE payments SET status = 'CLOSED', closed_at = " AT(3) ", updated_at = " AT(3) ", close_at_channel = $2, "
    "next_query_at = CASE WHEN $2 THEN " AT(3) " ELSE next_query_at END WHERE payment_id = $1"};
const pg::Query kInsertTransaction{"payment.insert_transaction",
                                   "INSERT INTO payment_transactions (order_id, "
                                   "channel_transaction_id, payment_id, source, applied_at) "
                                   "VALUES ($1, $2, $3, $4, " AT(5) ") ON CONFLICT DO NOTHING"};
const pg::Query kClaimPaymentsToQuery{"payment.claim_payments_to_query", "WITH due AS (SELECT payment_id FROM payments WHERE next_query_at <= " AT(1) " AND status IN ('PENDING', 'CLOSED') "
    "ORDER BY next_query_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE payments p SET query_attempts = query_attempts + 1, next_query_at = CASE "
    "  WHEN close_at_channel THEN " AT(1) " + ($2::bigint * interval '1 millisecond') "
    "  WHEN " AT(1) " + ($2::bigint * interval '1 millisecond') > query_until THEN NULL "
    "  ELSE " AT(1) " + ($2::bigint * interval '1 millisecond') END "
    "FROM due WHERE p.payment_id = due.payment_id RETURNING p.payment_id"};
const pg::Query kInsertAnomaly{"payment.insert_anomaly",
                               "INSERT INTO payment_anomalies (kind, channel, payment_id, "
                               "order_id, channel_transaction_id, expected_minor, actual_minor, "
                               "detail, source, created_at) VALUES ($1, $2, $3, $4, $5, NULLIF($6, "
                               "-1), NULLIF($7, -1), $8, $9, " AT(10) ")"};

const pg::Query kInsertRefund{
    "payment.insert_refund",
    "INSERT INTO refunds (refund_id, payment_id, order_id, request_id, fingerprint, amount_minor, "
    "currency, reason, reason_text, "
    "after_sale_case_id, status, created_at, updated_at, next_attempt_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PROCESSING', " AT(11) ", " AT(11) ", " AT(
        12) ")"};
const pg::Query kCommittedRefunds{
    "payment.committed_refunds",
    "SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE payment_id = $1 "
    "AND status IN ('PROCESSING', 'SUCCEEDED', 'MANUAL_REVIEW')"};
const pg::Query kClaimDueRefunds{"payment.claim_due_refunds", "WITH due AS (SELECT refund_id FROM refunds WHERE status = 'PROCESSING' AND next_attempt_at <= " AT(1) " "
    "ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE refunds r SET next_attempt_at = " AT(1) " + ($2::bigint * interval '1 millisecond') "
    "FROM due WHERE r.refund_id = due.refund_id RETURNING r.refund_id"};
const pg::Query kUpdateRefundAttempt{
    "payment.update_refund_attempt",
    "UPDATE refunds SET attempts = $2, in_doubt = $3, last_error = $4, channel_refund_id = $5, "
    "next_attempt_at = " AT(6) ", updated_at = " AT(7) " WHERE refund_id = $1"};
const pg::Query kMarkRefundSucceeded{"payment.mark_refund_succeeded",
                                     "UPDATE refunds SET status = 'SUCCEEDED', channel_refund_id = "
                                     "CASE WHEN $2 = '' THEN channel_refund_id ELSE $2 END, "
                                     "in_doubt = false, next_attempt_at = NULL, succeeded_at = " AT(
                                         3) ", updated_at = " AT(3) " WHERE refund_id = $1"};
const pg::Query kMarkRefundFinal{"payment.mark_refund_final",
                                 "UPDATE refunds SET status = $2, last_error = $3, attempts = $4, "
                                 "next_attempt_at = NULL, in_doubt = false, "
                                 "updated_at = " AT(5) " WHERE refund_id = $1"};
const pg::Query kReopenRefund{"payment.reopen_refund", "UPDATE refunds SET status = 'PROCESSING', retry_request_id = $2, attempts = 0, next_attempt_at = " AT(3) ", "
    "updated_at = " AT(3) " WHERE refund_id = $1"};

const pg::Query kUpsertOrder{"payment.upsert_order", "INSERT INTO orders (order_id, buyer_id, payable_minor, currency, status, payment_deadline, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, " AT(6) ", now()) ON CONFLICT (order_id) DO UPDATE SET buyer_id = EXCLUDED.buyer_id, "
    "payable_minor = EXCLUDED.payable_minor, currency = EXCLUDED.currency, payment_deadline = EXCLUDED.payment_deadline, "
    "updated_at = now()"};
// Status only moves forward: a late OrderCreated never re-opens a cancelled order.
const pg::Query kSetOrderStatus{"payment.set_order_status",
                                "UPDATE orders SET status = $2, updated_at = now() WHERE order_id "
                                "= $1 AND status <> 'CANCELLED'"};

const pg::Query kSaveReport{"payment.save_report", "INSERT INTO reconciliation_reports (channel, bill_date, report_id, status, report, updated_at) "
    "VALUES ($1, $2::date, $3, $4, $5, " AT(6) ") ON CONFLICT (channel, bill_date) DO UPDATE SET report_id = EXCLUDED.report_id, "
    "status = EXCLUDED.status, report = EXCLUDED.report, updated_at = EXCLUDED.updated_at"};

// Reads, by what they look up.
const pg::Query kFindPayment{"payment.find_payment", std::string("SELECT ") + kPaymentColumns +
                                                         " FROM payments WHERE payment_id = $1"};
const pg::Query kLockPayment{"payment.lock_payment", kFindPayment.sql() + " FOR UPDATE"};
const pg::Query kFindPaymentByRequest{
    "payment.find_payment_by_request",
    std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE request_id = $1"};
const pg::Query kLatestPaymentOfOrder{
    "payment.latest_payment_of_order",
    std::string("SELECT ") + kPaymentColumns +
        " FROM payments WHERE order_id = $1 ORDER BY created_at DESC, payment_id DESC LIMIT 1"};
const pg::Query kLockLatestPaymentOfOrder{"payment.lock_latest_payment_of_order",
                                          kLatestPaymentOfOrder.sql() + " FOR UPDATE"};
const pg::Query kPendingPaymentOfOrder{
    "payment.pending_payment_of_order",
    std::string("SELECT ") + kPaymentColumns +
        " FROM payments WHERE order_id = $1 AND status = 'PENDING' FOR UPDATE"};
const pg::Query kOrderHasSucceededPayment{
    "payment.order_has_succeeded_payment",
    "SELECT 1 FROM payments WHERE order_id = $1 AND status = 'SUCCEEDED' LIMIT 1"};
const pg::Query kSucceededPaymentsPaidBetween{
    "payment.succeeded_payments_paid_between",
    std::string("SELECT ") + kPaymentColumns +
        " FROM payments WHERE channel = $1 AND status = 'SUCCEEDED' AND paid_at >= " AT(
            2) " AND paid_at < " AT(3)};
const pg::Query kFindRefund{"payment.find_refund", std::string("SELECT ") + kRefundColumns +
                                                       " FROM refunds WHERE refund_id = $1"};
const pg::Query kLockRefund{"payment.lock_refund", kFindRefund.sql() + " FOR UPDATE"};
const pg::Query kFindRefundByRequest{
    "payment.find_refund_by_request",
    std::string("SELECT ") + kRefundColumns + " FROM refunds WHERE request_id = $1"};
const pg::Query kListRefunds{
    "payment.list_refunds",
    std::string("SELECT ") + kRefundColumns +
        " FROM refunds WHERE payment_id = $1 ORDER BY created_at, refund_id OFFSET $2 LIMIT $3"};
const pg::Query kListManualReview{"payment.list_manual_review",
                                  std::string("SELECT ") + kRefundColumns +
                                      " FROM refunds WHERE status = 'MANUAL_REVIEW' ORDER BY "
                                      "created_at, refund_id OFFSET $1 LIMIT $2"};
const pg::Query kSucceededRefundsBetween{
    "payment.succeeded_refunds_between",
    "SELECT r.refund_id, r.payment_id, r.order_id, r.request_id, r.fingerprint, r.amount_minor, r.currency, r.reason, "
    "r.reason_text, r.after_sale_case_id, r.status, r.channel_refund_id, r.last_error, r.retry_request_id, r.attempts, "
    "r.in_doubt, " TS("r.created_at") ", " TS("r.updated_at") ", " TS("r.succeeded_at") " "
    "FROM refunds r JOIN payments p USING (payment_id) WHERE p.channel = $1 AND r.status = 'SUCCEEDED' "
    "AND r.succeeded_at >= " AT(2) " AND r.succeeded_at < " AT(3)};
const pg::Query kFindOrder{"payment.find_order",
                           "SELECT order_id, buyer_id, payable_minor, currency, status, " TS(
                               "payment_deadline") " FROM orders WHERE order_id = $1"};
const pg::Query kFindReport{
    "payment.find_report",
    "SELECT report FROM reconciliation_reports WHERE channel = $1 AND bill_date = $2::date"};
const pg::Query kMarkOrderCancelled{
    "payment.mark_order_cancelled",
    "UPDATE orders SET status = 'CANCELLED', updated_at = now() WHERE order_id = $1"};
const pg::Query kClearCloseAtChannel{
    "payment.clear_close_at_channel",
    "UPDATE payments SET close_at_channel = false WHERE payment_id = $1"};
const pg::Query kAddRefunded{
    "payment.add_refunded",
    "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = " AT(
        3) " WHERE payment_id = $1"};

// Statuses are stored as text. These tables are the one place they become enums and back; a text
// no table knows reads as UNSPECIFIED.
template <typename E>
using StatusTexts = std::initializer_list<std::pair<E, std::string_view>>;
const StatusTexts<v1::PaymentStatus> kPaymentStatusTexts = {
    {v1::PAYMENT_STATUS_PENDING, "PENDING"},
    {v1::PAYMENT_STATUS_SUCCEEDED, "SUCCEEDED"},
    {v1::PAYMENT_STATUS_FAILED, "FAILED"},
    {v1::PAYMENT_STATUS_CLOSED, "CLOSED"}};
const StatusTexts<v1::RefundStatus> kRefundStatusTexts = {
    {v1::REFUND_STATUS_PROCESSING, "PROCESSING"},
    {v1::REFUND_STATUS_SUCCEEDED, "SUCCEEDED"},
    {v1::REFUND_STATUS_FAILED, "FAILED"},
    {v1::REFUND_STATUS_MANUAL_REVIEW, "MANUAL_REVIEW"}};
const StatusTexts<order::v1::OrderStatus> kOrderStatusTexts = {
    {order::v1::ORDER_STATUS_PENDING_PAYMENT, "PENDING_PAYMENT"},
    {order::v1::ORDER_STATUS_PAID, "PAID"},
    {order::v1::ORDER_STATUS_CANCELLED, "CANCELLED"}};

template <typename E>
E FromText(const StatusTexts<E>& texts, const std::string& text) {
  for (const auto& [status, t] : texts) {
    if (t == text) return status;
  }
  return E{};
}
// A status the column cannot hold is a bug of ours: INTERNAL through Guard.
template <typename E>
std::string ToText(const StatusTexts<E>& texts, E status) {
  for (const auto& [s, text] : texts) {
    if (s == status) return std::string(text);
  }
  throw std::invalid_argument("status " + std::to_string(status) + " has no database text");
}

TimePoint Ms(const pqxx::field& f) { return FromUnixMillis(f.as<int64_t>()); }
int64_t ToMs(TimePoint t) { return t == TimePoint{} ? 0 : ToUnixMillis(t); }

PaymentRow PaymentFrom(const pqxx::row& r) {
  PaymentRow p;
  p.payment_id = r[0].as<std::string>();
  p.order_id = r[1].as<std::string>();
  p.request_id = r[2].as<std::string>();
  p.fingerprint = r[3].as<std::string>();
  p.channel = static_cast<v1::PaymentChannel>(r[4].as<int>());
  p.method = static_cast<v1::PaymentMethod>(r[5].as<int>());
  p.amount = r[6].as<int64_t>();
  p.currency = r[7].as<std::string>();
  p.status = FromText(kPaymentStatusTexts, r[8].as<std::string>());
  p.description = r[9].as<std::string>();
  p.pay_url = r[10].as<std::string>();
  p.qr_code = r[11].as<std::string>();
  p.app_params = AppParamsFromColumn(r[12].as<std::string>());
  p.transaction_id = r[13].as<std::string>();
  p.failure_reason = r[14].as<std::string>();
  p.refunded = r[15].as<int64_t>();
  p.paid_after_close = r[16].as<bool>();
  p.close_at_channel = r[17].as<bool>();
  p.expires_at = Ms(r[18]);
  p.paid_at = Ms(r[19]);
  p.closed_at = Ms(r[20]);
  p.created_at = Ms(r[21]);
  p.updated_at = Ms(r[22]);
  p.query_until = Ms(r[23]);
  p.query_attempts = r[24].as<int>();
  return p;
}

RefundRow RefundFrom(const pqxx::row& r) {
  RefundRow x;
  x.refund_id = r[0].as<std::string>();
  x.payment_id = r[1].as<std::string>();
  x.order_id = r[2].as<std::string>();
  x.request_id = r[3].as<std::string>();
  x.fingerprint = r[4].as<std::string>();
  x.amount = r[5].as<int64_t>();
  x.currency = r[6].as<std::string>();
  x.reason = static_cast<v1::RefundReason>(r[7].as<int>());
  x.reason_text = r[8].as<std::string>();
  x.after_sale_case_id = r[9].as<std::string>();
  x.status = FromText(kRefundStatusTexts, r[10].as<std::string>());
  x.channel_refund_id = r[11].as<std::string>();
  x.last_error = r[12].as<std::string>();
  x.retry_request_id = r[13].as<std::string>();
  x.attempts = r[14].as<int>();
  x.in_doubt = r[15].as<bool>();
  x.created_at = Ms(r[16]);
  x.updated_at = Ms(r[17]);
  x.succeeded_at = Ms(r[18]);
  return x;
}

// Runs a statement that returns nothing the caller needs.
template <typename... Args>
absl::Status Run(pqxx::transaction_base& tx, const pg::Query& q, Args&&... args) {
  return pg::Guard([&]() -> absl::Status {
    pg::Exec(tx, q, std::forward<Args>(args)...);
    return absl::OkStatus();
  });
}

// Reads at most one row through from.
template <typename Row, typename... Args>
absl::StatusOr<std::optional<Row>> One(Row (*from)(const pqxx::row&), pqxx::transaction_base& tx,
                                       const pg::Query& q, Args&&... args) {
  return pg::Guard([&]() -> absl::StatusOr<std::optional<Row>> {
    auto r = pg::Exec(tx, q, std::forward<Args>(args)...);
    if (r.empty()) return std::nullopt;
    return from(r[0]);
  });
}

// Reads every row through from.
template <typename Row, typename... Args>
absl::StatusOr<std::vector<Row>> All(Row (*from)(const pqxx::row&), pqxx::transaction_base& tx,
                                     const pg::Query& q, Args&&... args) {
  return pg::Guard([&]() -> absl::StatusOr<std::vector<Row>> {
    std::vector<Row> out;
    for (const auto& r : pg::Exec(tx, q, std::forward<Args>(args)...)) out.push_back(from(r));
    return out;
  });
}

std::string IdFrom(const pqxx::row& r) { return r[0].as<std::string>(); }

}  // namespace

// ---- PgPaymentTx: payments

absl::StatusOr<std::optional<PaymentRow>> PgPaymentTx::FindPayment(const std::string& id,
                                                                   bool lock) {
  return One(PaymentFrom, tx_, lock ? kLockPayment : kFindPayment, id);
}
absl::StatusOr<std::optional<PaymentRow>> PgPaymentTx::FindPaymentByRequest(
    const std::string& rid) {
  return One(PaymentFrom, tx_, kFindPaymentByRequest, rid);
}
absl::StatusOr<std::optional<PaymentRow>> PgPaymentTx::LatestPaymentOfOrder(
    const std::string& order_id, bool lock) {
  return One(PaymentFrom, tx_, lock ? kLockLatestPaymentOfOrder : kLatestPaymentOfOrder, order_id);
}
absl::StatusOr<std::optional<PaymentRow>> PgPaymentTx::PendingPaymentOfOrder(
    const std::string& order_id) {
  return One(PaymentFrom, tx_, kPendingPaymentOfOrder, order_id);
}
absl::StatusOr<bool> PgPaymentTx::OrderHasSucceededPayment(const std::string& order_id) {
  return pg::Guard([&]() -> absl::StatusOr<bool> {
    return !pg::Exec(tx_, kOrderHasSucceededPayment, order_id).empty();
  });
}
absl::Status PgPaymentTx::InsertPayment(const PaymentRow& p, TimePoint next_query_at) {
  return Run(tx_, kInsertPayment, p.payment_id, p.order_id, p.request_id, p.fingerprint,
             static_cast<int>(p.channel), static_cast<int>(p.method), p.amount, p.currency,
             p.description, ToMs(p.expires_at), ToMs(p.created_at), ToMs(next_query_at),
             ToMs(p.query_until));
}
absl::Status PgPaymentTx::SetChannelLinks(const PaymentRow& p) {
  return Run(tx_, kSetChannelLinks, p.payment_id, p.pay_url, p.qr_code,
             wire::EncodeForm(p.app_params));
}
absl::Status PgPaymentTx::MarkSucceeded(const std::string& id, const std::string& txn,
                                        TimePoint paid_at, bool after_close, TimePoint now) {
  return Run(tx_, kMarkSucceeded, id, txn, ToMs(paid_at), after_close, ToMs(now));
}
absl::Status PgPaymentTx::MarkFailed(const std::string& id, const std::string& reason,
                                     TimePoint now) {
  return Run(tx_, kMarkFailed, id, reason, ToMs(now));
}
absl::Status PgPaymentTx::MarkClosed(const std::string& id, bool close_at_channel, TimePoint now) {
  return Run(tx_, kMarkClosed, id, close_at_channel, ToMs(now));
}
absl::Status PgPaymentTx::ClearCloseAtChannel(const std::string& id) {
  return Run(tx_, kClearCloseAtChannel, id);
}
absl::Status PgPaymentTx::AddRefunded(const std::string& id, int64_t amount, TimePoint now) {
  return Run(tx_, kAddRefunded, id, amount, ToMs(now));
}
absl::StatusOr<bool> PgPaymentTx::InsertTransaction(const std::string& order_id,
                                                    const std::string& txn,
                                                    const std::string& payment_id,
                                                    const std::string& source, TimePoint now) {
  return pg::Guard([&]() -> absl::StatusOr<bool> {
    return pg::Exec(tx_, kInsertTransaction, order_id, txn, payment_id, source, ToMs(now))
               .affected_rows() == 1;
  });
}
absl::StatusOr<std::vector<std::string>> PgPaymentTx::ClaimPaymentsToQuery(
    TimePoint now, std::chrono::milliseconds interval, int limit) {
  return All(IdFrom, tx_, kClaimPaymentsToQuery, ToMs(now), static_cast<int64_t>(interval.count()),
             limit);
}
absl::StatusOr<std::vector<PaymentRow>> PgPaymentTx::SucceededPaymentsPaidBetween(
    v1::PaymentChannel c, TimePoint from, TimePoint to) {
  return All(PaymentFrom, tx_, kSucceededPaymentsPaidBetween, static_cast<int>(c), ToMs(from),
             ToMs(to));
}
absl::Status PgPaymentTx::InsertAnomaly(const AnomalyRow& a, TimePoint now) {
  return Run(tx_, kInsertAnomaly, a.kind, static_cast<int>(a.channel), a.payment_id, a.order_id,
             a.transaction_id, a.expected.value_or(-1), a.actual.value_or(-1), a.detail, a.source,
             ToMs(now));
}

// ---- PgPaymentTx: refunds

absl::StatusOr<std::optional<RefundRow>> PgPaymentTx::FindRefund(const std::string& id, bool lock) {
  return One(RefundFrom, tx_, lock ? kLockRefund : kFindRefund, id);
}
absl::StatusOr<std::optional<RefundRow>> PgPaymentTx::FindRefundByRequest(const std::string& rid) {
  return One(RefundFrom, tx_, kFindRefundByRequest, rid);
}
absl::StatusOr<int64_t> PgPaymentTx::CommittedRefundAmount(const std::string& payment_id) {
  return pg::Guard([&]() -> absl::StatusOr<int64_t> {
    return pg::Exec1(tx_, kCommittedRefunds, payment_id)[0].as<int64_t>();
  });
}
absl::Status PgPaymentTx::InsertRefund(const RefundRow& r, TimePoint next) {
  return Run(tx_, kInsertRefund, r.refund_id, r.payment_id, r.order_id, r.request_id, r.fingerprint,
             r.amount, r.currency, static_cast<int>(r.reason), r.reason_text, r.after_sale_case_id,
             ToMs(r.created_at), ToMs(next));
}
absl::StatusOr<std::vector<RefundRow>> PgPaymentTx::ListRefunds(const std::string& payment_id,
                                                                int64_t offset, int limit) {
  return All(RefundFrom, tx_, kListRefunds, payment_id, offset, limit);
}
absl::StatusOr<std::vector<RefundRow>> PgPaymentTx::ListManualReview(int64_t offset, int limit) {
  return All(RefundFrom, tx_, kListManualReview, offset, limit);
}
absl::StatusOr<std::vector<std::string>> PgPaymentTx::ClaimDueRefunds(
    TimePoint now, std::chrono::milliseconds lease, int limit) {
  return All(IdFrom, tx_, kClaimDueRefunds, ToMs(now), static_cast<int64_t>(lease.count()), limit);
}
absl::Status PgPaymentTx::UpdateRefundAttempt(const RefundRow& r, TimePoint next, TimePoint now) {
  return Run(tx_, kUpdateRefundAttempt, r.refund_id, r.attempts, r.in_doubt, r.last_error,
             r.channel_refund_id, ToMs(next), ToMs(now));
}
absl::Status PgPaymentTx::MarkRefundSucceeded(const std::string& id, const std::string& crid,
                                              TimePoint now) {
  return Run(tx_, kMarkRefundSucceeded, id, crid, ToMs(now));
}
absl::Status PgPaymentTx::MarkRefundFinal(const std::string& id, v1::RefundStatus status,
                                          const std::string& error, int attempts, TimePoint now) {
  return pg::Guard([&]() -> absl::Status {
    pg::Exec(tx_, kMarkRefundFinal, id, ToText(kRefundStatusTexts, status), error, attempts,
             ToMs(now));
    return absl::OkStatus();
  });
}
absl::Status PgPaymentTx::ReopenRefund(const std::string& id, const std::string& rid,
                                       TimePoint now) {
  return Run(tx_, kReopenRefund, id, rid, ToMs(now));
}
absl::StatusOr<std::vector<RefundRow>> PgPaymentTx::SucceededRefundsBetween(v1::PaymentChannel c,
                                                                            TimePoint from,
                                                                            TimePoint to) {
  return All(RefundFrom, tx_, kSucceededRefundsBetween, static_cast<int>(c), ToMs(from), ToMs(to));
}

// ---- PgPaymentTx: orders projection

absl::StatusOr<std::optional<OrderRow>> PgPaymentTx::FindOrder(const std::string& order_id) {
  return One(
      +[](const pqxx::row& r) {
        OrderRow o;
        o.order_id = r[0].as<std::string>();
        o.buyer_id = r[1].as<std::string>();
        o.payable = r[2].as<int64_t>();
        o.currency = r[3].as<std::string>();
        o.status = FromText(kOrderStatusTexts, r[4].as<std::string>());
        o.deadline = Ms(r[5]);
        return o;
      },
      tx_, kFindOrder, order_id);
}
absl::Status PgPaymentTx::UpsertOrder(const OrderRow& o) {
  return pg::Guard([&]() -> absl::Status {
    const auto status = o.status == order::v1::ORDER_STATUS_UNSPECIFIED
                            ? order::v1::ORDER_STATUS_PENDING_PAYMENT
                            : o.status;
    pg::Exec(tx_, kUpsertOrder, o.order_id, o.buyer_id, o.payable, o.currency,
             ToText(kOrderStatusTexts, status), ToMs(o.deadline));
    return absl::OkStatus();
  });
}
absl::Status PgPaymentTx::MarkOrderCancelled(const std::string& order_id) {
  return Run(tx_, kMarkOrderCancelled, order_id);
}
absl::Status PgPaymentTx::SetOrderStatus(const std::string& order_id,
                                         order::v1::OrderStatus status) {
  return pg::Guard([&]() -> absl::Status {
    pg::Exec(tx_, kSetOrderStatus, order_id, ToText(kOrderStatusTexts, status));
    return absl::OkStatus();
  });
}

// ---- PgPaymentTx: reconciliation reports and the outbox

absl::StatusOr<std::optional<v1::ReconciliationReport>> PgPaymentTx::FindReport(
    v1::PaymentChannel c, const std::string& date) {
  return pg::Guard([&]() -> absl::StatusOr<std::optional<v1::ReconciliationReport>> {
    auto r = pg::Exec(tx_, kFindReport, static_cast<int>(c), date);
    if (r.empty()) return std::nullopt;
    pqxx::binarystring bytes(r[0][0]);
    v1::ReconciliationReport out;
    out.ParseFromString(bytes.str());
    return out;
  });
}
absl::Status PgPaymentTx::SaveReport(const v1::ReconciliationReport& rep, TimePoint now) {
  std::string bytes = rep.SerializeAsString();
  return Run(tx_, kSaveReport, static_cast<int>(rep.channel()), rep.bill_date(), rep.report_id(),
             v1::ReconciliationStatus_Name(rep.status()),
             pqxx::binarystring(bytes.data(), bytes.size()), ToMs(now));
}

absl::Status PgPaymentTx::AppendEvent(events::v1::EventEnvelope& event) {
  auto seq = pg::Guard([&] { return events::Append(tx_, event, {.topic = topic_}); });
  return seq.ok() ? absl::OkStatus() : seq.status();
}

// ---- PgPaymentRepository

absl::Status PgPaymentRepository::InTransaction(const PaymentTxFn& fn) {
  return pool_.InTransaction([&](pqxx::transaction_base& tx) {
    PgPaymentTx ptx(tx, topic_);
    return fn(ptx);
  });
}

}  // namespace orderly::payment
