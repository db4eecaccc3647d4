#pragma once
// gmock mocks of the payment domain's storage interfaces, for unit tests of PaymentManager that
// need no database. MockPaymentRepository runs every transaction on its one MockPaymentTx.
#include <gmock/gmock.h>

#include "order_directory.hpp"
#include "payment_repository.hpp"

namespace orderly::payment {

class MockPaymentTx : public PaymentTx {
 public:
  MOCK_METHOD(absl::StatusOr<std::optional<PaymentRow>>, FindPayment, (const std::string&, bool),
              (override));
  MOCK_METHOD(absl::StatusOr<std::optional<PaymentRow>>, FindPaymentByRequest, (const std::string&),
              (override));
  MOCK_METHOD(absl::StatusOr<std::optional<PaymentRow>>, LatestPaymentOfOrder,
              (const std::string&, bool), (override));
  MOCK_METHOD(absl::StatusOr<std::optional<PaymentRow>>, PendingPaymentOfOrder,
              (const std::string&), (override));
  MOCK_METHOD(absl::StatusOr<bool>, OrderHasSucceededPayment, (const std::string&), (override));
  MOCK_METHOD(absl::Status, InsertPayment, (const PaymentRow&, TimePoint), (override));
  MOCK_METHOD(absl::Status, SetChannelLinks, (const PaymentRow&), (override));
  MOCK_METHOD(absl::Status, MarkSucceeded,
              (const std::string&, const std::string&, TimePoint, bool, TimePoint), (override));
  MOCK_METHOD(absl::Status, MarkFailed, (const std::string&, const std::string&, TimePoint),
              (override));
  MOCK_METHOD(absl::Status, MarkClosed, (const std::string&, bool, TimePoint), (override));
  MOCK_METHOD(absl::Status, ClearCloseAtChannel, (const std::string&), (override));
  MOCK_METHOD(absl::Status, AddRefunded, (const std::string&, int64_t, TimePoint), (override));
  MOCK_METHOD(absl::StatusOr<bool>, InsertTransaction,
              (const std::string&, const std::string&, const std::string&, const std::string&,
               TimePoint),
              (override));
  MOCK_METHOD(absl::StatusOr<std::vector<std::string>>, ClaimPaymentsToQuery,
              (TimePoint, std::chrono::milliseconds, int), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<PaymentRow>>, SucceededPaymentsPaidBetween,
              (v1::PaymentChannel, TimePoint, TimePoint), (override));
  MOCK_METHOD(absl::Status, InsertAnomaly, (const AnomalyRow&, TimePoint), (override));

  MOCK_METHOD(absl::StatusOr<std::optional<RefundRow>>, FindRefund, (const std::string&, bool),
              (override));
  MOCK_METHOD(absl::StatusOr<std::optional<RefundRow>>, FindRefundByRequest, (const std::string&),
              (override));
  MOCK_METHOD(absl::StatusOr<int64_t>, CommittedRefundAmount, (const std::string&), (override));
  MOCK_METHOD(absl::Status, InsertRefund, (const RefundRow&, TimePoint), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<RefundRow>>, ListRefunds,
              (const std::string&, int64_t, int), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<RefundRow>>, ListManualReview, (int64_t, int), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<std::string>>, ClaimDueRefunds,
              (TimePoint, std::chrono::milliseconds, int), (override));
  MOCK_METHOD(absl::Status, UpdateRefundAttempt, (const RefundRow&, TimePoint, TimePoint),
              (override));
  MOCK_METHOD(absl::Status, MarkRefundSucceeded,
              (const std::string&, const std::string&, TimePoint), (override));
  MOCK_METHOD(absl::Status, MarkRefundFinal,
              (const std::string&, v1::RefundStatus, const std::string&, int, TimePoint),
              (override));
  MOCK_METHOD(absl::Status, ReopenRefund, (const std::string&, const std::string&, TimePoint),
              (override));
  MOCK_METHOD(absl::StatusOr<std::vector<RefundRow>>, SucceededRefundsBetween,
              (v1::PaymentChannel, TimePoint, TimePoint), (override));

  MOCK_METHOD(absl::StatusOr<std::optional<OrderRow>>, FindOrder, (const std::string&), (override));
  MOCK_METHOD(absl::Status, UpsertOrder, (const OrderRow&), (override));
  MOCK_METHOD(absl::Status, SetOrderStatus, (const std::string&, order::v1::OrderStatus),
              (override));
  MOCK_METHOD(absl::Status, MarkOrderCancelled, (const std::string&), (override));

  MOCK_METHOD(absl::StatusOr<std::optional<v1::ReconciliationReport>>, FindReport,
              (v1::PaymentChannel, const std::string&), (override));
  MOCK_METHOD(absl::Status, SaveReport, (const v1::ReconciliationReport&, TimePoint), (override));

  MOCK_METHOD(absl::Status, AppendEvent, (events::v1::EventEnvelope&), (override));
};

class MockPaymentRepository : public PaymentRepository {
 public:
  MockPaymentRepository() {
    ON_CALL(*this, InTransaction).WillByDefault([this](const PaymentTxFn& fn) { return fn(tx); });
  }
  MOCK_METHOD(absl::Status, InTransaction, (const PaymentTxFn&), (override));

  // Every call not expected by a test fails it.
  testing::StrictMock<MockPaymentTx> tx;
};

class MockOrderDirectory : public OrderDirectory {
 public:
  MOCK_METHOD(absl::StatusOr<OrderRow>, Find, (const std::string&), (override));
};

}  // namespace orderly::payment
