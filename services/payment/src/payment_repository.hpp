#pragma once
// The storage the payment domain needs, as a small interface (pg_payment_repository.* implements
// it on PostgreSQL; unit tests use the mocks in tests/mock_payment_repository.hpp). A PaymentTx is
// one database transaction: everything done through it commits or rolls back together, including
// the outbox events it appends, so a state change and its event are never apart. Every method
// returns a status; none throws.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/order/v1/order.pb.h"
#include "orderly/payment/v1/payment.pb.h"

namespace orderly::payment {

struct PaymentRow {
  std::string payment_id, order_id, request_id, fingerprint;
  v1::PaymentChannel channel = v1::PAYMENT_CHANNEL_UNSPECIFIED;
  v1::PaymentMethod method = v1::PAYMENT_METHOD_UNSPECIFIED;
  int64_t amount = 0;
  std::string currency;
  v1::PaymentStatus status = v1::PAYMENT_STATUS_UNSPECIFIED;
  std::string description, pay_url, qr_code, transaction_id, failure_reason;
  std::map<std::string, std::string>
      app_params;  // what the buyer's app SDK needs, e.g. Alipay's orderStr
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
  std::string reason_text, after_sale_case_id;
  v1::RefundStatus status = v1::REFUND_STATUS_UNSPECIFIED;
  std::string channel_refund_id, last_error, retry_request_id;
  int attempts = 0;
  bool in_doubt = false;
  TimePoint created_at, updated_at, succeeded_at;
};

// The orders projection. Its status is one of PENDING_PAYMENT, PAID (paid or any later state) and
// CANCELLED.
struct OrderRow {
  std::string order_id, buyer_id, currency;
  order::v1::OrderStatus status = order::v1::ORDER_STATUS_PENDING_PAYMENT;
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

class PaymentTx {
 public:
  virtual ~PaymentTx() = default;

  // Payments. for_update locks the row until the transaction ends.
  virtual absl::StatusOr<std::optional<PaymentRow>> FindPayment(const std::string& payment_id,
                                                                bool for_update) = 0;
  virtual absl::StatusOr<std::optional<PaymentRow>> FindPaymentByRequest(
      const std::string& request_id) = 0;
  virtual absl::StatusOr<std::optional<PaymentRow>> LatestPaymentOfOrder(
      const std::string& order_id, bool for_update) = 0;
  // The order's PENDING payment, locked.
  virtual absl::StatusOr<std::optional<PaymentRow>> PendingPaymentOfOrder(
      const std::string& order_id) = 0;
  virtual absl::StatusOr<bool> OrderHasSucceededPayment(const std::string& order_id) = 0;
  // Inserts p as PENDING (ALREADY_EXISTS on a duplicate request_id or a second pending payment).
  virtual absl::Status InsertPayment(const PaymentRow& p, TimePoint next_query_at) = 0;
  virtual absl::Status SetChannelLinks(const PaymentRow& p) = 0;
  virtual absl::Status MarkSucceeded(const std::string& payment_id, const std::string& txn,
                                     TimePoint paid_at, bool after_close, TimePoint now) = 0;
  virtual absl::Status MarkFailed(const std::string& payment_id, const std::string& reason,
                                  TimePoint now) = 0;
  virtual absl::Status MarkClosed(const std::string& payment_id, bool close_at_channel,
                                  TimePoint now) = 0;
  virtual absl::Status ClearCloseAtChannel(const std::string& payment_id) = 0;
  virtual absl::Status AddRefunded(const std::string& payment_id, int64_t amount,
                                   TimePoint now) = 0;
  // (order id, transaction id) guard; false when already applied.
  virtual absl::StatusOr<bool> InsertTransaction(const std::string& order_id,
                                                 const std::string& txn,
                                                 const std::string& payment_id,
                                                 const std::string& source, TimePoint now) = 0;
  // Claims up to limit payments due for an active query, moving their next query time on.
  virtual absl::StatusOr<std::vector<std::string>> ClaimPaymentsToQuery(
      TimePoint now, std::chrono::milliseconds interval, int limit) = 0;
  virtual absl::StatusOr<std::vector<PaymentRow>> SucceededPaymentsPaidBetween(v1::PaymentChannel c,
                                                                               TimePoint from,
                                                                               TimePoint to) = 0;
  virtual absl::Status InsertAnomaly(const AnomalyRow& a, TimePoint now) = 0;

  // Refunds
  virtual absl::StatusOr<std::optional<RefundRow>> FindRefund(const std::string& refund_id,
                                                              bool for_update) = 0;
  virtual absl::StatusOr<std::optional<RefundRow>> FindRefundByRequest(
      const std::string& request_id) = 0;
  // PROCESSING + SUCCEEDED + MANUAL_REVIEW: what the refund cap counts.
  virtual absl::StatusOr<int64_t> CommittedRefundAmount(const std::string& payment_id) = 0;
  // Inserts r as PROCESSING.
  virtual absl::Status InsertRefund(const RefundRow& r, TimePoint next_attempt_at) = 0;
  virtual absl::StatusOr<std::vector<RefundRow>> ListRefunds(const std::string& payment_id,
                                                             int64_t offset, int limit) = 0;
  virtual absl::StatusOr<std::vector<RefundRow>> ListManualReview(int64_t offset, int limit) = 0;
  virtual absl::StatusOr<std::vector<std::string>> ClaimDueRefunds(TimePoint now,
                                                                   std::chrono::milliseconds lease,
                                                                   int limit) = 0;
  virtual absl::Status UpdateRefundAttempt(const RefundRow& r, TimePoint next_attempt_at,
                                           TimePoint now) = 0;
  virtual absl::Status MarkRefundSucceeded(const std::string& refund_id,
                                           const std::string& channel_refund_id, TimePoint now) = 0;
  // FAILED or MANUAL_REVIEW.
  virtual absl::Status MarkRefundFinal(const std::string& refund_id, v1::RefundStatus status,
                                       const std::string& error, int attempts, TimePoint now) = 0;
  virtual absl::Status ReopenRefund(const std::string& refund_id,
                                    const std::string& retry_request_id, TimePoint now) = 0;
  virtual absl::StatusOr<std::vector<RefundRow>> SucceededRefundsBetween(v1::PaymentChannel c,
                                                                         TimePoint from,
                                                                         TimePoint to) = 0;

  // Orders projection
  virtual absl::StatusOr<std::optional<OrderRow>> FindOrder(const std::string& order_id) = 0;
  virtual absl::Status UpsertOrder(const OrderRow& o) = 0;
  // Moves forward only: a cancelled order stays cancelled.
  virtual absl::Status SetOrderStatus(const std::string& order_id,
                                      order::v1::OrderStatus status) = 0;
  // The order was cancelled: always, whatever status the projection had.
  virtual absl::Status MarkOrderCancelled(const std::string& order_id) = 0;

  // Reconciliation reports
  virtual absl::StatusOr<std::optional<v1::ReconciliationReport>> FindReport(
      v1::PaymentChannel c, const std::string& date) = 0;
  virtual absl::Status SaveReport(const v1::ReconciliationReport& r, TimePoint now) = 0;

  // The transactional outbox (the payment topic).
  virtual absl::Status AppendEvent(events::v1::EventEnvelope& event) = 0;
};

using PaymentTxFn = std::function<absl::Status(PaymentTx&)>;

class PaymentRepository {
 public:
  virtual ~PaymentRepository() = default;
  // Runs fn in one transaction: commits when it returns OK, rolls back otherwise and returns its
  // status; ABORTED (serialization failure, deadlock) retries fn whole.
  virtual absl::Status InTransaction(const PaymentTxFn& fn) = 0;
};
using PaymentRepositoryPtr = std::unique_ptr<PaymentRepository>;

// Runs read (PaymentTx& -> absl::StatusOr<T>) in a transaction of its own and returns its result.
template <typename Read>
auto ReadInTransaction(PaymentRepository& repo, Read&& read)
    -> std::invoke_result_t<Read&, PaymentTx&> {
  std::invoke_result_t<Read&, PaymentTx&> out = absl::UnknownError("not run");
  auto s = repo.InTransaction([&](PaymentTx& tx) -> absl::Status {
    out = read(tx);
    return out.status();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace orderly::payment
