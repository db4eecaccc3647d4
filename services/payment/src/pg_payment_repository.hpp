#pragma once
// PaymentRepository on PostgreSQL. SQL lives as named pg::Query constants in
// pg_payment_repository.cpp, which is also the one place statuses become database text and back.
#include <pqxx/pqxx>
#include <string>

#include "orderly/pg/pool.hpp"
#include "payment_repository.hpp"

namespace orderly::payment {

// A PaymentTx over a pqxx transaction someone else owns (the pool, or the inbox consumer).
class PgPaymentTx : public PaymentTx {
 public:
  // topic: where its events go (orderly.payment.v1; tests use one of their own).
  PgPaymentTx(pqxx::transaction_base& tx, std::string topic) : tx_(tx), topic_(std::move(topic)) {}

  absl::StatusOr<std::optional<PaymentRow>> FindPayment(const std::string& payment_id,
                                                        bool for_update) override;
  absl::StatusOr<std::optional<PaymentRow>> FindPaymentByRequest(
      const std::string& request_id) override;
  absl::StatusOr<std::optional<PaymentRow>> LatestPaymentOfOrder(const std::string& order_id,
                                                                 bool for_update) override;
  absl::StatusOr<std::optional<PaymentRow>> PendingPaymentOfOrder(
      const std::string& order_id) override;
  absl::StatusOr<bool> OrderHasSucceededPayment(const std::string& order_id) override;
  absl::Status InsertPayment(const PaymentRow& p, TimePoint next_query_at) override;
  absl::Status SetChannelLinks(const PaymentRow& p) override;
  absl::Status MarkSucceeded(const std::string& payment_id, const std::string& txn,
                             TimePoint paid_at, bool after_close, TimePoint now) override;
  absl::Status MarkFailed(const std::string& payment_id, const std::string& reason,
                          TimePoint now) override;
  absl::Status MarkClosed(const std::string& payment_id, bool close_at_channel,
                          TimePoint now) override;
  absl::Status ClearCloseAtChannel(const std::string& payment_id) override;
  absl::Status AddRefunded(const std::string& payment_id, int64_t amount, TimePoint now) override;
  absl::StatusOr<bool> InsertTransaction(const std::string& order_id, const std::string& txn,
                                         const std::string& payment_id, const std::string& source,
                                         TimePoint now) override;
  absl::StatusOr<std::vector<std::string>> ClaimPaymentsToQuery(TimePoint now,
                                                                std::chrono::milliseconds interval,
                                                                int limit) override;
  absl::StatusOr<std::vector<PaymentRow>> SucceededPaymentsPaidBetween(v1::PaymentChannel c,
                                                                       TimePoint from,
                                                                       TimePoint to) override;
  absl::Status InsertAnomaly(const AnomalyRow& a, TimePoint now) override;

  absl::StatusOr<std::optional<RefundRow>> FindRefund(const std::string& refund_id,
                                                      bool for_update) override;
  absl::StatusOr<std::optional<RefundRow>> FindRefundByRequest(
      const std::string& request_id) override;
  absl::StatusOr<int64_t> CommittedRefundAmount(const std::string& payment_id) override;
  absl::Status InsertRefund(const RefundRow& r, TimePoint next_attempt_at) override;
  absl::StatusOr<std::vector<RefundRow>> ListRefunds(const std::string& payment_id, int64_t offset,
                                                     int limit) override;
  absl::StatusOr<std::vector<RefundRow>> ListManualReview(int64_t offset, int limit) override;
  absl::StatusOr<std::vector<std::string>> ClaimDueRefunds(TimePoint now,
                                                           std::chrono::milliseconds lease,
                                                           int limit) override;
  absl::Status UpdateRefundAttempt(const RefundRow& r, TimePoint next_attempt_at,
                                   TimePoint now) override;
  absl::Status MarkRefundSucceeded(const std::string& refund_id,
                                   const std::string& channel_refund_id, TimePoint now) override;
  absl::Status MarkRefundFinal(const std::string& refund_id, v1::RefundStatus status,
                               const std::string& error, int attempts, TimePoint now) override;
  absl::Status ReopenRefund(const std::string& refund_id, const std::string& retry_request_id,
                            TimePoint now) override;
  absl::StatusOr<std::vector<RefundRow>> SucceededRefundsBetween(v1::PaymentChannel c,
                                                                 TimePoint from,
                                                                 TimePoint to) override;

  absl::StatusOr<std::optional<OrderRow>> FindOrder(const std::string& order_id) override;
  absl::Status UpsertOrder(const OrderRow& o) override;
  absl::Status SetOrderStatus(const std::string& order_id, order::v1::OrderStatus status) override;
  absl::Status MarkOrderCancelled(const std::string& order_id) override;

  absl::StatusOr<std::optional<v1::ReconciliationReport>> FindReport(
      v1::PaymentChannel c, const std::string& date) override;
  absl::Status SaveReport(const v1::ReconciliationReport& r, TimePoint now) override;

  absl::Status AppendEvent(events::v1::EventEnvelope& event) override;

 private:
  pqxx::transaction_base& tx_;
  std::string topic_;
};

class PgPaymentRepository : public PaymentRepository {
 public:
  PgPaymentRepository(pg::Pool& pool, std::string topic) : pool_(pool), topic_(std::move(topic)) {}

  absl::Status InTransaction(const PaymentTxFn& fn) override;
  const std::string& topic() const { return topic_; }

 private:
  pg::Pool& pool_;
  std::string topic_;
};

}  // namespace orderly::payment
