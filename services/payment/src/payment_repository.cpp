#include "payment_repository.hpp"

#include "channel/wire_util.hpp"
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
#define AT(n) "CASE WHEN $" #n "::bigint = 0 THEN NULL ELSE to_timestamp($" #n "::bigint / 1000.0) END"

constexpr char kPaymentColumns[] =
    "payment_id, order_id, request_id, fingerprint, channel, method, amount_minor, currency, status, description, "
    "pay_url, qr_code, app_params, COALESCE(channel_transaction_id, ''), failure_reason, refunded_minor, paid_after_close, "
    "close_at_channel, " TS("expires_at") ", " TS("paid_at") ", " TS("closed_at") ", " TS("created_at") ", " TS("updated_at")
    ", " TS("query_until") ", query_attempts";

constexpr char kRefundColumns[] =
    "refund_id, payment_id, order_id, request_id, fingerprint, amount_minor, currency, reason, reason_text, after_sale_case_id, "
    "status, channel_refund_id, last_error, retry_request_id, attempts, in_doubt, " TS("created_at") ", " TS("updated_at") ", "
    TS("succeeded_at");

const pg::Query kInsertPayment{"payment.insert_payment", "INSERT INTO payments (payment_id, order_id, request_id, fingerprint, channel, method, amount_minor, currency, status, "
    "description, expires_at, created_at, updated_at, next_query_at, query_until) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING', $9, " AT(10) ", " AT(11) ", " AT(11) ", " AT(12) ", " AT(13) ")"};
const pg::Query kSetChannelLinks{"payment.set_channel_links", "UPDATE payments SET pay_url = $2, qr_code = $3, app_params = $4 WHERE payment_id = $1"};
const pg::Query kMarkSucceeded{"payment.mark_succeeded", "UPDATE payments SET status = 'SUCCEEDED', channel_transaction_id = $2, paid_at = " AT(3) ", paid_after_close = $4, "
    "updated_at = " AT(5) ", close_at_channel = false, next_query_at = NULL WHERE payment_id = $1"};
const pg::Query kMarkFailed{"payment.mark_failed", "UPDATE payments SET status = 'FAILED', failure_reason = $2, updated_at = " AT(3) ", next_query_at = NULL "
    "WHERE payment_id = $1"};
// A closed payment is still queried until query_until: a payment that slipped in is found.
const pg::Query kMarkClosed{"payment.mark_closed", "UPDATE payments SET status = 'CLOSED', closed_at = " AT(3) ", updated_at = " AT(3) ", close_at_channel = $2, "
    "next_query_at = CASE WHEN $2 THEN " AT(3) " ELSE next_query_at END WHERE payment_id = $1"};
const pg::Query kInsertTransaction{"payment.insert_transaction", "INSERT INTO payment_transactions (order_id, channel_transaction_id, payment_id, source, applied_at) "
    "VALUES ($1, $2, $3, $4, " AT(5) ") ON CONFLICT DO NOTHING"};
const pg::Query kClaimPaymentsToQuery{"payment.claim_payments_to_query", "WITH due AS (SELECT payment_id FROM payments WHERE next_query_at <= " AT(1) " AND status IN ('PENDING', 'CLOSED') "
    "ORDER BY next_query_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE payments p SET query_attempts = query_attempts + 1, next_query_at = CASE "
    "  WHEN close_at_channel THEN " AT(1) " + ($2::bigint * interval '1 millisecond') "
    "  WHEN " AT(1) " + ($2::bigint * interval '1 millisecond') > query_until THEN NULL "
    "  ELSE " AT(1) " + ($2::bigint * interval '1 millisecond') END "
    "FROM due WHERE p.payment_id = due.payment_id RETURNING p.payment_id"};
const pg::Query kInsertAnomaly{"payment.insert_anomaly", "INSERT INTO payment_anomalies (kind, channel, payment_id, order_id, channel_transaction_id, expected_minor, actual_minor, "
    "detail, source, created_at) VALUES ($1, $2, $3, $4, $5, NULLIF($6, -1), NULLIF($7, -1), $8, $9, " AT(10) ")"};

const pg::Query kInsertRefund{"payment.insert_refund", "INSERT INTO refunds (refund_id, payment_id, order_id, request_id, fingerprint, amount_minor, currency, reason, reason_text, "
    "after_sale_case_id, status, created_at, updated_at, next_attempt_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PROCESSING', " AT(11) ", " AT(11) ", " AT(12) ")"};
const pg::Query kCommittedRefunds{"payment.committed_refunds", "SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE payment_id = $1 "
    "AND status IN ('PROCESSING', 'SUCCEEDED', 'MANUAL_REVIEW')"};
const pg::Query kClaimDueRefunds{"payment.claim_due_refunds", "WITH due AS (SELECT refund_id FROM refunds WHERE status = 'PROCESSING' AND next_attempt_at <= " AT(1) " "
    "ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE refunds r SET next_attempt_at = " AT(1) " + ($2::bigint * interval '1 millisecond') "
    "FROM due WHERE r.refund_id = due.refund_id RETURNING r.refund_id"};
const pg::Query kUpdateRefundAttempt{"payment.update_refund_attempt", "UPDATE refunds SET attempts = $2, in_doubt = $3, last_error = $4, channel_refund_id = $5, "
    "next_attempt_at = " AT(6) ", updated_at = " AT(7) " WHERE refund_id = $1"};
const pg::Query kMarkRefundSucceeded{"payment.mark_refund_succeeded", "UPDATE refunds SET status = 'SUCCEEDED', channel_refund_id = CASE WHEN $2 = '' THEN channel_refund_id ELSE $2 END, "
    "in_doubt = false, next_attempt_at = NULL, succeeded_at = " AT(3) ", updated_at = " AT(3) " WHERE refund_id = $1"};
const pg::Query kMarkRefundFinal{"payment.mark_refund_final", "UPDATE refunds SET status = $2, last_error = $3, attempts = $4, next_attempt_at = NULL, in_doubt = false, "
    "updated_at = " AT(5) " WHERE refund_id = $1"};
const pg::Query kReopenRefund{"payment.reopen_refund", "UPDATE refunds SET status = 'PROCESSING', retry_request_id = $2, attempts = 0, next_attempt_at = " AT(3) ", "
    "updated_at = " AT(3) " WHERE refund_id = $1"};

const pg::Query kUpsertOrder{"payment.upsert_order", "INSERT INTO orders (order_id, buyer_id, payable_minor, currency, status, payment_deadline, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, " AT(6) ", now()) ON CONFLICT (order_id) DO UPDATE SET buyer_id = EXCLUDED.buyer_id, "
    "payable_minor = EXCLUDED.payable_minor, currency = EXCLUDED.currency, payment_deadline = EXCLUDED.payment_deadline, "
    "updated_at = now()"};
// Status only moves forward: a late OrderCreated never re-opens a cancelled order.
const pg::Query kSetOrderStatus{"payment.set_order_status", "UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1 AND status <> 'CANCELLED'"};

const pg::Query kSaveReport{"payment.save_report", "INSERT INTO reconciliation_reports (channel, bill_date, report_id, status, report, updated_at) "
    "VALUES ($1, $2::date, $3, $4, $5, " AT(6) ") ON CONFLICT (channel, bill_date) DO UPDATE SET report_id = EXCLUDED.report_id, "
    "status = EXCLUDED.status, report = EXCLUDED.report, updated_at = EXCLUDED.updated_at"};

// Reads, by what they look up.
const pg::Query kFindPayment{"payment.find_payment",
                             std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE payment_id = $1"};
const pg::Query kLockPayment{"payment.lock_payment", kFindPayment.sql() + " FOR UPDATE"};
const pg::Query kFindPaymentByRequest{"payment.find_payment_by_request",
                                      std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE request_id = $1"};
const pg::Query kLatestPaymentOfOrder{
    "payment.latest_payment_of_order",
    std::string("SELECT ") + kPaymentColumns +
        " FROM payments WHERE order_id = $1 ORDER BY created_at DESC, payment_id DESC LIMIT 1"};
const pg::Query kLockLatestPaymentOfOrder{"payment.lock_latest_payment_of_order",
                                          kLatestPaymentOfOrder.sql() + " FOR UPDATE"};
const pg::Query kPendingPaymentOfOrder{
    "payment.pending_payment_of_order",
    std::string("SELECT ") + kPaymentColumns + " FROM payments WHERE order_id = $1 AND status = 'PENDING' FOR UPDATE"};
const pg::Query kOrderHasSucceededPayment{
    "payment.order_has_succeeded_payment",
    "SELECT 1 FROM payments WHERE order_id = $1 AND status = 'SUCCEEDED' LIMIT 1"};
const pg::Query kSucceededPaymentsPaidBetween{
    "payment.succeeded_payments_paid_between",
    std::string("SELECT ") + kPaymentColumns +
        " FROM payments WHERE channel = $1 AND status = 'SUCCEEDED' AND paid_at >= " AT(2) " AND paid_at < " AT(3)};
const pg::Query kCountAnomalies{"payment.count_anomalies",
                                "SELECT count(*) FROM payment_anomalies WHERE payment_id = $1"};
const pg::Query kFindRefund{"payment.find_refund",
                            std::string("SELECT ") + kRefundColumns + " FROM refunds WHERE refund_id = $1"};
const pg::Query kLockRefund{"payment.lock_refund", kFindRefund.sql() + " FOR UPDATE"};
const pg::Query kFindRefundByRequest{"payment.find_refund_by_request",
                                     std::string("SELECT ") + kRefundColumns + " FROM refunds WHERE request_id = $1"};
const pg::Query kListRefunds{
    "payment.list_refunds",
    std::string("SELECT ") + kRefundColumns +
        " FROM refunds WHERE payment_id = $1 ORDER BY created_at, refund_id OFFSET $2 LIMIT $3"};
const pg::Query kListManualReview{
    "payment.list_manual_review",
    std::string("SELECT ") + kRefundColumns +
        " FROM refunds WHERE status = 'MANUAL_REVIEW' ORDER BY created_at, refund_id OFFSET $1 LIMIT $2"};
const pg::Query kSucceededRefundsBetween{
    "payment.succeeded_refunds_between",
    "SELECT r.refund_id, r.payment_id, r.order_id, r.request_id, r.fingerprint, r.amount_minor, r.currency, r.reason, "
    "r.reason_text, r.after_sale_case_id, r.status, r.channel_refund_id, r.last_error, r.retry_request_id, r.attempts, "
    "r.in_doubt, " TS("r.created_at") ", " TS("r.updated_at") ", " TS("r.succeeded_at") " "
    "FROM refunds r JOIN payments p USING (payment_id) WHERE p.channel = $1 AND r.status = 'SUCCEEDED' "
    "AND r.succeeded_at >= " AT(2) " AND r.succeeded_at < " AT(3)};
const pg::Query kFindOrder{
    "payment.find_order",
    "SELECT order_id, buyer_id, payable_minor, currency, status, " TS("payment_deadline") " FROM orders WHERE order_id = $1"};
const pg::Query kFindReport{"payment.find_report",
                            "SELECT report FROM reconciliation_reports WHERE channel = $1 AND bill_date = $2::date"};
const pg::Query kMarkOrderCancelled{
    "payment.mark_order_cancelled",
    "UPDATE orders SET status = 'CANCELLED', updated_at = now() WHERE order_id = $1"};
const pg::Query kClearCloseAtChannel{"payment.clear_close_at_channel",
                                     "UPDATE payments SET close_at_channel = false WHERE payment_id = $1"};
const pg::Query kAddRefunded{
    "payment.add_refunded",
    "UPDATE payments SET refunded_minor = refunded_minor + $2, updated_at = " AT(3) " WHERE payment_id = $1"};

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
  p.status = r[8].as<std::string>();
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
  x.status = r[10].as<std::string>();
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

std::optional<PaymentRow> OnePayment(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  return PaymentFrom(r[0]);
}
std::optional<RefundRow> OneRefund(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  return RefundFrom(r[0]);
}

}  // namespace

std::optional<PaymentRow> PaymentRepository::FindPayment(pqxx::transaction_base& tx, const std::string& id, bool lock) {
  return OnePayment(pg::Exec(tx, lock ? kLockPayment : kFindPayment, id));
}
std::optional<PaymentRow> PaymentRepository::FindPaymentByRequest(pqxx::transaction_base& tx, const std::string& rid) {
  return OnePayment(pg::Exec(tx, kFindPaymentByRequest, rid));
}
std::optional<PaymentRow> PaymentRepository::LatestPaymentOfOrder(pqxx::transaction_base& tx, const std::string& order_id, bool lock) {
  return OnePayment(pg::Exec(tx, lock ? kLockLatestPaymentOfOrder : kLatestPaymentOfOrder, order_id));
}
std::optional<PaymentRow> PaymentRepository::PendingPaymentOfOrder(pqxx::transaction_base& tx, const std::string& order_id) {
  return OnePayment(pg::Exec(tx, kPendingPaymentOfOrder, order_id));
}
bool PaymentRepository::OrderHasSucceededPayment(pqxx::transaction_base& tx, const std::string& order_id) {
  return !pg::Exec(tx, kOrderHasSucceededPayment, order_id).empty();
}
void PaymentRepository::InsertPayment(pqxx::transaction_base& tx, const PaymentRow& p, TimePoint next_query_at) {
  pg::Exec(tx, kInsertPayment, p.payment_id, p.order_id, p.request_id, p.fingerprint, static_cast<int>(p.channel),
                 static_cast<int>(p.method), p.amount, p.currency, p.description, ToMs(p.expires_at), ToMs(p.created_at),
                 ToMs(next_query_at), ToMs(p.query_until));
}
void PaymentRepository::SetChannelLinks(pqxx::transaction_base& tx, const PaymentRow& p) {
  pg::Exec(tx, kSetChannelLinks, p.payment_id, p.pay_url, p.qr_code, wire::EncodeForm(p.app_params));
}
void PaymentRepository::MarkSucceeded(pqxx::transaction_base& tx, const std::string& id, const std::string& txn, TimePoint paid_at,
                                      bool after_close, TimePoint now) {
  pg::Exec(tx, kMarkSucceeded, id, txn, ToMs(paid_at), after_close, ToMs(now));
}
void PaymentRepository::MarkFailed(pqxx::transaction_base& tx, const std::string& id, const std::string& reason, TimePoint now) {
  pg::Exec(tx, kMarkFailed, id, reason, ToMs(now));
}
void PaymentRepository::MarkClosed(pqxx::transaction_base& tx, const std::string& id, bool close_at_channel, TimePoint now) {
  pg::Exec(tx, kMarkClosed, id, close_at_channel, ToMs(now));
}
void PaymentRepository::ClearCloseAtChannel(pqxx::transaction_base& tx, const std::string& id) {
  pg::Exec(tx, kClearCloseAtChannel, id);
}
void PaymentRepository::AddRefunded(pqxx::transaction_base& tx, const std::string& id, int64_t amount, TimePoint now) {
  pg::Exec(tx, kAddRefunded, id, amount, ToMs(now));
}
bool PaymentRepository::InsertTransaction(pqxx::transaction_base& tx, const std::string& order_id, const std::string& txn,
                                          const std::string& payment_id, const std::string& source, TimePoint now) {
  return pg::Exec(tx, kInsertTransaction, order_id, txn, payment_id, source, ToMs(now)).affected_rows() == 1;
}
std::vector<std::string> PaymentRepository::ClaimPaymentsToQuery(pqxx::transaction_base& tx, TimePoint now,
                                                                 std::chrono::milliseconds interval, int limit) {
  std::vector<std::string> out;
  for (const auto& r : pg::Exec(tx, kClaimPaymentsToQuery, ToMs(now), static_cast<int64_t>(interval.count()), limit)) {
    out.push_back(r[0].as<std::string>());
  }
  return out;
}
std::vector<PaymentRow> PaymentRepository::SucceededPaymentsPaidBetween(pqxx::transaction_base& tx, v1::PaymentChannel c, TimePoint from,
                                                                        TimePoint to) {
  std::vector<PaymentRow> out;
  for (const auto& r : pg::Exec(tx, kSucceededPaymentsPaidBetween, static_cast<int>(c), ToMs(from), ToMs(to))) {
    out.push_back(PaymentFrom(r));
  }
  return out;
}
void PaymentRepository::InsertAnomaly(pqxx::transaction_base& tx, const AnomalyRow& a, TimePoint now) {
  pg::Exec(tx, kInsertAnomaly, a.kind, static_cast<int>(a.channel), a.payment_id, a.order_id, a.transaction_id,
                 a.expected.value_or(-1), a.actual.value_or(-1), a.detail, a.source, ToMs(now));
}
int64_t PaymentRepository::CountAnomalies(pqxx::transaction_base& tx, const std::string& payment_id) {
  return pg::Exec(tx, kCountAnomalies, payment_id)[0][0].as<int64_t>();
}

std::optional<RefundRow> PaymentRepository::FindRefund(pqxx::transaction_base& tx, const std::string& id, bool lock) {
  return OneRefund(pg::Exec(tx, lock ? kLockRefund : kFindRefund, id));
}
std::optional<RefundRow> PaymentRepository::FindRefundByRequest(pqxx::transaction_base& tx, const std::string& rid) {
  return OneRefund(pg::Exec(tx, kFindRefundByRequest, rid));
}
int64_t PaymentRepository::CommittedRefundAmount(pqxx::transaction_base& tx, const std::string& payment_id) {
  return pg::Exec(tx, kCommittedRefunds, payment_id)[0][0].as<int64_t>();
}
void PaymentRepository::InsertRefund(pqxx::transaction_base& tx, const RefundRow& r, TimePoint next) {
  pg::Exec(tx, kInsertRefund, r.refund_id, r.payment_id, r.order_id, r.request_id, r.fingerprint, r.amount, r.currency,
                 static_cast<int>(r.reason), r.reason_text, r.after_sale_case_id, ToMs(r.created_at), ToMs(next));
}
std::vector<RefundRow> PaymentRepository::ListRefunds(pqxx::transaction_base& tx, const std::string& payment_id, int64_t offset, int limit) {
  std::vector<RefundRow> out;
  for (const auto& r : pg::Exec(tx, kListRefunds, payment_id, offset, limit)) {
    out.push_back(RefundFrom(r));
  }
  return out;
}
std::vector<RefundRow> PaymentRepository::ListManualReview(pqxx::transaction_base& tx, int64_t offset, int limit) {
  std::vector<RefundRow> out;
  for (const auto& r : pg::Exec(tx, kListManualReview, offset, limit)) {
    out.push_back(RefundFrom(r));
  }
  return out;
}
std::vector<std::string> PaymentRepository::ClaimDueRefunds(pqxx::transaction_base& tx, TimePoint now, std::chrono::milliseconds lease, int limit) {
  std::vector<std::string> out;
  for (const auto& r : pg::Exec(tx, kClaimDueRefunds, ToMs(now), static_cast<int64_t>(lease.count()), limit)) {
    out.push_back(r[0].as<std::string>());
  }
  return out;
}
void PaymentRepository::UpdateRefundAttempt(pqxx::transaction_base& tx, const RefundRow& r, TimePoint next, TimePoint now) {
  pg::Exec(tx, kUpdateRefundAttempt, r.refund_id, r.attempts, r.in_doubt, r.last_error, r.channel_refund_id, ToMs(next), ToMs(now));
}
void PaymentRepository::MarkRefundSucceeded(pqxx::transaction_base& tx, const std::string& id, const std::string& crid, TimePoint now) {
  pg::Exec(tx, kMarkRefundSucceeded, id, crid, ToMs(now));
}
void PaymentRepository::MarkRefundFinal(pqxx::transaction_base& tx, const std::string& id, const std::string& status, const std::string& error,
                                        int attempts, TimePoint now) {
  pg::Exec(tx, kMarkRefundFinal, id, status, error, attempts, ToMs(now));
}
void PaymentRepository::ReopenRefund(pqxx::transaction_base& tx, const std::string& id, const std::string& rid, TimePoint now) {
  pg::Exec(tx, kReopenRefund, id, rid, ToMs(now));
}
std::vector<RefundRow> PaymentRepository::SucceededRefundsBetween(pqxx::transaction_base& tx, v1::PaymentChannel c, TimePoint from, TimePoint to) {
  std::vector<RefundRow> out;
  for (const auto& r : pg::Exec(tx, kSucceededRefundsBetween, static_cast<int>(c), ToMs(from), ToMs(to))) {
    out.push_back(RefundFrom(r));
  }
  return out;
}

std::optional<OrderRow> PaymentRepository::FindOrder(pqxx::transaction_base& tx, const std::string& order_id) {
  auto r = pg::Exec(tx, kFindOrder, order_id);
  if (r.empty()) return std::nullopt;
  OrderRow o;
  o.order_id = r[0][0].as<std::string>();
  o.buyer_id = r[0][1].as<std::string>();
  o.payable = r[0][2].as<int64_t>();
  o.currency = r[0][3].as<std::string>();
  o.status = r[0][4].as<std::string>();
  o.deadline = Ms(r[0][5]);
  return o;
}
void PaymentRepository::UpsertOrder(pqxx::transaction_base& tx, const OrderRow& o) {
  pg::Exec(tx, kUpsertOrder, o.order_id, o.buyer_id, o.payable, o.currency, o.status.empty() ? "PENDING_PAYMENT" : o.status, ToMs(o.deadline));
}
void PaymentRepository::MarkOrderCancelled(pqxx::transaction_base& tx, const std::string& order_id) {
  pg::Exec(tx, kMarkOrderCancelled, order_id);
}
void PaymentRepository::SetOrderStatus(pqxx::transaction_base& tx, const std::string& order_id, const std::string& status) {
  pg::Exec(tx, kSetOrderStatus, order_id, status);
}

std::optional<v1::ReconciliationReport> PaymentRepository::FindReport(pqxx::transaction_base& tx, v1::PaymentChannel c, const std::string& date) {
  auto r = pg::Exec(tx, kFindReport, static_cast<int>(c), date);
  if (r.empty()) return std::nullopt;
  pqxx::binarystring bytes(r[0][0]);
  v1::ReconciliationReport out;
  out.ParseFromString(bytes.str());
  return out;
}
void PaymentRepository::SaveReport(pqxx::transaction_base& tx, const v1::ReconciliationReport& rep, TimePoint now) {
  std::string bytes = rep.SerializeAsString();
  pg::Exec(tx, kSaveReport, static_cast<int>(rep.channel()), rep.bill_date(), rep.report_id(),
                 v1::ReconciliationStatus_Name(rep.status()), pqxx::binarystring(bytes.data(), bytes.size()), ToMs(now));
}

}  // namespace orderly::payment
