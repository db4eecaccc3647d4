#pragma once
// PostgreSQL access for payments, refunds, the orders projection, anomalies and reconciliation
// reports. Every function works inside the caller's transaction so a state change and its outbox
// event commit together. SQL lives as named constants in payment_repository.cpp.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <pqxx/pqxx>

#include "orderly/core/clock.hpp"
#include "orderly/payment/v1/payment.pb.h"

namespace orderly::payment {

struct PaymentRow {
  std::string payment_id, order_id, request_id, fingerprint;
  v1::PaymentChannel channel = v1::PAYMENT_CHANNEL_UNSPECIFIED;
  v1::PaymentMethod method = v1::PAYMENT_METHOD_UNSPECIFIED;
  int64_t amount = 0;
  std::string currency, status, description, pay_url, qr_code, transaction_id, failure_reason;
  std::map<std::string, std::string> app_params;  // what the buyer's app SDK needs, e.g. Alipay's orderStr
  int64_t refunded = 0;
  bool paid_after_close = false, close_at_channel = false;
  TimePoint expires_at, paid_at, closed_at, created_at, updated_at, query_until;
  int query_attempts = 0;
};

struct RefundRow {
  std::string refund_id, payment_id, order_id, request_id, fingerprint;
  int64_t amount = 0;
  std::string currency;
  v1::RefundReason reason = v1::REFUND_REASON_UNSPECIFIED;
  std::string reason_text, after_sale_case_id, status, channel_refund_id, last_error, retry_request_id;
  int attempts = 0;
  bool in_doubt = false;
  TimePoint created_at, updated_at, succeeded_at;
};

struct OrderRow {
  std::string order_id, buyer_id, currency, status;
  int64_t payable = 0;
  TimePoint deadline;
};

struct AnomalyRow {
  std::string kind;
  v1::PaymentChannel channel = v1::PAYMENT_CHANNEL_UNSPECIFIED;
  std::string payment_id, order_id, transaction_id;
  std::optional<int64_t> expected, actual;
  std::string detail, source;
};

class PaymentRepository {
 public:
  // Payments
  static std::optional<PaymentRow> FindPayment(pqxx::transaction_base& tx, const std::string& payment_id, bool for_update);
  static std::optional<PaymentRow> FindPaymentByRequest(pqxx::transaction_base& tx, const std::string& request_id);
  static std::optional<PaymentRow> LatestPaymentOfOrder(pqxx::transaction_base& tx, const std::string& order_id, bool for_update);
  static std::optional<PaymentRow> PendingPaymentOfOrder(pqxx::transaction_base& tx, const std::string& order_id);
  static bool OrderHasSucceededPayment(pqxx::transaction_base& tx, const std::string& order_id);
  static void InsertPayment(pqxx::transaction_base& tx, const PaymentRow& p, TimePoint next_query_at);
  static void SetChannelLinks(pqxx::transaction_base& tx, const PaymentRow& p);
  static void MarkSucceeded(pqxx::transaction_base& tx, const std::string& payment_id, const std::string& txn, TimePoint paid_at,
                            bool after_close, TimePoint now);
  static void MarkFailed(pqxx::transaction_base& tx, const std::string& payment_id, const std::string& reason, TimePoint now);
  static void MarkClosed(pqxx::transaction_base& tx, const std::string& payment_id, bool close_at_channel, TimePoint now);
  static void ClearCloseAtChannel(pqxx::transaction_base& tx, const std::string& payment_id);
  static void AddRefunded(pqxx::transaction_base& tx, const std::string& payment_id, int64_t amount, TimePoint now);
  // (order id, transaction id) guard; false when already applied.
  static bool InsertTransaction(pqxx::transaction_base& tx, const std::string& order_id, const std::string& txn,
                                const std::string& payment_id, const std::string& source, TimePoint now);
  // Claims up to limit payments due for an active query, moving their next query time on.
  static std::vector<std::string> ClaimPaymentsToQuery(pqxx::transaction_base& tx, TimePoint now, std::chrono::milliseconds interval,
                                                       int limit);
  static std::vector<PaymentRow> SucceededPaymentsPaidBetween(pqxx::transaction_base& tx, v1::PaymentChannel c, TimePoint from,
                                                              TimePoint to);
  static void InsertAnomaly(pqxx::transaction_base& tx, const AnomalyRow& a, TimePoint now);
  static int64_t CountAnomalies(pqxx::transaction_base& tx, const std::string& payment_id);

  // Refunds
  static std::optional<RefundRow> FindRefund(pqxx::transaction_base& tx, const std::string& refund_id, bool for_update);
  static std::optional<RefundRow> FindRefundByRequest(pqxx::transaction_base& tx, const std::string& request_id);
  static int64_t CommittedRefundAmount(pqxx::transaction_base& tx, const std::string& payment_id);
  static void InsertRefund(pqxx::transaction_base& tx, const RefundRow& r, TimePoint next_attempt_at);
  static std::vector<RefundRow> ListRefunds(pqxx::transaction_base& tx, const std::string& payment_id, int64_t offset, int limit);
  static std::vector<RefundRow> ListManualReview(pqxx::transaction_base& tx, int64_t offset, int limit);
  static std::vector<std::string> ClaimDueRefunds(pqxx::transaction_base& tx, TimePoint now, std::chrono::milliseconds lease, int limit);
  static void UpdateRefundAttempt(pqxx::transaction_base& tx, const RefundRow& r, TimePoint next_attempt_at, TimePoint now);
  static void MarkRefundSucceeded(pqxx::transaction_base& tx, const std::string& refund_id, const std::string& channel_refund_id,
                                  TimePoint now);
  static void MarkRefundFinal(pqxx::transaction_base& tx, const std::string& refund_id, const std::string& status,
                              const std::string& error, int attempts, TimePoint now);
  static void ReopenRefund(pqxx::transaction_base& tx, const std::string& refund_id, const std::string& retry_request_id, TimePoint now);
  static std::vector<RefundRow> SucceededRefundsBetween(pqxx::transaction_base& tx, v1::PaymentChannel c, TimePoint from, TimePoint to);

  // Orders projection
  static std::optional<OrderRow> FindOrder(pqxx::transaction_base& tx, const std::string& order_id);
  static void UpsertOrder(pqxx::transaction_base& tx, const OrderRow& o);
  static void SetOrderStatus(pqxx::transaction_base& tx, const std::string& order_id, const std::string& status);
  // The order was cancelled: always, whatever status the projection had.
  static void MarkOrderCancelled(pqxx::transaction_base& tx, const std::string& order_id);

  // Reconciliation reports
  static std::optional<v1::ReconciliationReport> FindReport(pqxx::transaction_base& tx, v1::PaymentChannel c, const std::string& date);
  static void SaveReport(pqxx::transaction_base& tx, const v1::ReconciliationReport& r, TimePoint now);
};

}  // namespace orderly::payment
