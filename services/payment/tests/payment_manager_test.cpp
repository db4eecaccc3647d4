// PaymentManager's rules with its storage mocked: no database, no channel, no server.
#include "payment_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mock_payment_repository.hpp"
#include "orderly/core/status.hpp"

namespace orderly::payment {
namespace {

using testing::_;
using testing::Field;
using testing::NiceMock;
using testing::Return;

class PaymentManagerTest : public testing::Test {
 protected:
  PaymentManagerTest()
      : clock_(std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000))),
        manager_(repo_, nullptr, channels_, orders_, clock_, PaymentSettings{}) {}

  static PaymentRow Payment(v1::PaymentStatus status) {
    PaymentRow p;
    p.payment_id = "pay-1";
    p.order_id = "ord-1";
    p.channel = v1::PAYMENT_CHANNEL_ALIPAY;
    p.amount = 1000;
    p.currency = "CNY";
    p.status = status;
    return p;
  }
  static v1::RefundRequest Refund(int64_t amount) {
    v1::RefundRequest r;
    r.set_payment_id("pay-1");
    r.mutable_amount()->set_amount_minor(amount);
    r.mutable_amount()->set_currency_code("CNY");
    r.set_reason(v1::REFUND_REASON_ADMIN);
    r.set_request_id("refund-req-1");
    return r;
  }
  static ChannelTrade Paid() {
    return ChannelTrade{TradeState::kSucceeded,
                        "pay-1",
                        "txn-1",
                        1000,
                        "CNY",
                        FromUnixMillis(1'800'000'000'000),
                        ""};
  }

  MockPaymentTx& tx() { return repo_.tx; }

  NiceMock<MockPaymentRepository> repo_;
  MockOrderDirectory orders_;
  ChannelRegistry channels_;
  std::shared_ptr<ManualClock> clock_;
  PaymentManager manager_;
};

TEST_F(PaymentManagerTest, RefundOverTheRefundableAmountIsRefused) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_SUCCEEDED)));
  EXPECT_CALL(tx(), FindRefundByRequest("refund-req-1")).WillOnce(Return(std::nullopt));
  EXPECT_CALL(tx(), CommittedRefundAmount("pay-1")).WillOnce(Return(600));
  EXPECT_CALL(tx(), InsertRefund).Times(0);

  auto refused = manager_.CreateRefund(Refund(401));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(refused.status()), "REFUND_EXCEEDS_CAPTURED");
  EXPECT_EQ(ErrorMetadata(refused.status(), "refundable"), "400");
}

TEST_F(PaymentManagerTest, RefundOfExactlyTheRefundableAmountIsJournaledProcessing) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_SUCCEEDED)));
  EXPECT_CALL(tx(), FindRefundByRequest("refund-req-1")).WillOnce(Return(std::nullopt));
  EXPECT_CALL(tx(), CommittedRefundAmount("pay-1")).WillOnce(Return(600));
  EXPECT_CALL(tx(),
              InsertRefund(testing::AllOf(Field(&RefundRow::amount, 400),
                                          Field(&RefundRow::status, v1::REFUND_STATUS_PROCESSING)),
                           _))
      .WillOnce(Return(absl::OkStatus()));

  auto refund = manager_.CreateRefund(Refund(400));
  ASSERT_TRUE(refund.ok()) << refund.status();
  EXPECT_EQ(refund->status(), v1::REFUND_STATUS_PROCESSING);
  EXPECT_EQ(refund->amount().amount_minor(), 400);
}

TEST_F(PaymentManagerTest, RefundOfAnUnpaidPaymentNamesItsStatus) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_CLOSED)));
  EXPECT_CALL(tx(), FindRefundByRequest("refund-req-1")).WillOnce(Return(std::nullopt));

  auto refused = manager_.CreateRefund(Refund(100));
  EXPECT_EQ(ErrorReason(refused.status()), "PAYMENT_NOT_REFUNDABLE");
  EXPECT_EQ(ErrorMetadata(refused.status(), "current_status"), "CLOSED");
}

TEST_F(PaymentManagerTest, ClosedPaymentThatGetsPaidIsMarkedPaidAfterClose) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_CLOSED)));
  EXPECT_CALL(tx(), InsertTransaction("ord-1", "txn-1", "pay-1", "notify", _))
      .WillOnce(Return(true));
  EXPECT_CALL(tx(), MarkSucceeded("pay-1", "txn-1", _, /*after_close=*/true, _))
      .WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(tx(), SetOrderStatus("ord-1", order::v1::ORDER_STATUS_PAID))
      .WillOnce(Return(absl::OkStatus()));
  events::v1::EventEnvelope sent;
  EXPECT_CALL(tx(), AppendEvent).WillOnce([&](events::v1::EventEnvelope& e) {
    sent = e;
    return absl::OkStatus();
  });

  auto outcome = manager_.ApplyTrade(v1::PAYMENT_CHANNEL_ALIPAY, Paid(), "notify");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(*outcome, ApplyOutcome::kApplied);
  ASSERT_TRUE(sent.has_payment_succeeded());
  EXPECT_TRUE(sent.payment_succeeded().after_close());
  EXPECT_EQ(sent.aggregate_id(), "pay-1");
}

TEST_F(PaymentManagerTest, DuplicateNotificationIsAbsorbed) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_SUCCEEDED)));
  EXPECT_CALL(tx(), InsertTransaction("ord-1", "txn-1", "pay-1", "notify", _))
      .WillOnce(Return(false));
  EXPECT_CALL(tx(), MarkSucceeded).Times(0);
  EXPECT_CALL(tx(), AppendEvent).Times(0);

  auto outcome = manager_.ApplyTrade(v1::PAYMENT_CHANNEL_ALIPAY, Paid(), "notify");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(*outcome, ApplyOutcome::kDuplicate);
}

TEST_F(PaymentManagerTest, StorageFailureIsReturnedAndNothingMoreIsWritten) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(absl::UnavailableError("connection lost")));

  auto outcome = manager_.ApplyTrade(v1::PAYMENT_CHANNEL_ALIPAY, Paid(), "notify");
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PaymentManagerTest, FailedOutboxAppendFailsTheWholeChange) {
  EXPECT_CALL(tx(), FindPayment("pay-1", true))
      .WillOnce(Return(Payment(v1::PAYMENT_STATUS_PENDING)));
  EXPECT_CALL(tx(), InsertTransaction).WillOnce(Return(true));
  EXPECT_CALL(tx(), MarkSucceeded("pay-1", "txn-1", _, /*after_close=*/false, _))
      .WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(tx(), SetOrderStatus).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(tx(), AppendEvent).WillOnce(Return(absl::AbortedError("serialization failure")));

  // The repository rolls the transaction back on this status: no success without its event.
  auto outcome = manager_.ApplyTrade(v1::PAYMENT_CHANNEL_ALIPAY, Paid(), "notify");
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace orderly::payment
