// Domain rules of OrderManager tested without a database: the repositories and inventory are
// gmock mocks (tests/order_mocks.hpp), so each test states exactly what the domain may touch.
#include "order_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "order_mocks.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/proto_convert.hpp"
#include "orderly/core/status.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace ev1 = ::orderly::events::v1;
using server::Role;
using ::testing::_;
using ::testing::Field;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::StrictMock;

constexpr int64_t kParentId = 7001;
constexpr int64_t kChildId = 7002;

OrderRecord Record(int64_t id, ov1::OrderStatus status, bool top_level, TimePoint now) {
  OrderRecord rec;
  rec.top_level = top_level;
  rec.fulfillment_unit = !top_level;
  ov1::Order& o = rec.order;
  o.set_order_id(std::to_string(id));
  if (!top_level) o.set_parent_order_id(std::to_string(kParentId));
  o.set_buyer_id("buyer-1");
  o.set_merchant_id("m1");
  o.set_order_type(common::v1::ORDER_TYPE_NORMAL);
  o.set_status(status);
  o.set_version(3);
  *o.mutable_created_at() = ToProtoTimestamp(now);
  *o.mutable_payment_deadline() = ToProtoTimestamp(now + std::chrono::minutes(30));
  return rec;
}

class OrderManagerUnitTest : public ::testing::Test {
 protected:
  OrderManagerUnitTest() {
    auto repo = std::make_unique<NiceMock<testing::MockOrderRepository>>();
    repo_ = repo.get();
    manager_ = std::make_unique<OrderManager>(
        std::move(repo), std::make_unique<StrictMock<testing::MockMarketingRepository>>(),
        /*redis=*/nullptr, inventory_, clock_, 1);
  }

  testing::MockOrderTx& tx() { return repo_->tx(); }

  absl::Status Handle(const ev1::EventEnvelope& e) {
    return manager_->repository().InTransaction([&](OrderTx& tx) {
      AfterCommit after;
      return manager_->HandleEvent(tx, e, &after);
    });
  }

  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(FromUnixMicros(1'790'000'000'000'000));
  StrictMock<testing::MockInventoryClient> inventory_;
  testing::MockOrderRepository* repo_ = nullptr;
  std::unique_ptr<OrderManager> manager_;

 private:
  static TimePoint FromUnixMicros(int64_t us) {
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
  }
};

TEST_F(OrderManagerUnitTest, PaymentForAChildOrderIsIgnored) {
  // Payments are per parent: one naming a child changes nothing and emits nothing (the strict
  // mock fails on any write).
  EXPECT_CALL(tx(), Lock(kChildId))
      .WillOnce(Return(Record(kChildId, ov1::ORDER_STATUS_PENDING_PAYMENT, false, clock_->Now())));
  ev1::EventEnvelope e;
  e.set_event_id("ev-1");
  auto* p = e.mutable_payment_succeeded();
  p->set_payment_id("pay-1");
  p->set_order_id(std::to_string(kChildId));
  ORDERLY_EXPECT_OK(Handle(e));
}

TEST_F(OrderManagerUnitTest, StockRefusalForACancelledOrderDoesNothing) {
  auto counted = [] {
    return metrics::Registry::Default()
        .GetCounter("orderly_order_stock_refusals_total", "", {{"outcome", "already_cancelled"}})
        .Value();
  };
  const auto before = counted();
  EXPECT_CALL(tx(), Lock(kParentId))
      .WillOnce(Return(Record(kParentId, ov1::ORDER_STATUS_CANCELLED, true, clock_->Now())));
  ev1::EventEnvelope e;
  e.set_event_id("ev-2");
  auto* r = e.mutable_stock_confirm_refused();
  r->set_order_id(std::to_string(kParentId));
  r->set_reason("INSUFFICIENT_STOCK");
  ORDERLY_EXPECT_OK(Handle(e));
  EXPECT_EQ(counted(), before + 1);
}

TEST_F(OrderManagerUnitTest, ALatePaymentInventoryNoLongerBacksIsCancelledAndRefunded) {
  OrderRecord order = Record(kParentId, ov1::ORDER_STATUS_PENDING_PAYMENT, true, clock_->Now());
  order.fulfillment_unit = true;  // one merchant, one warehouse: no children
  clock_->Advance(std::chrono::minutes(31));
  EXPECT_CALL(tx(), Lock(kParentId)).WillOnce(Return(order));
  EXPECT_CALL(inventory_, Confirm(std::to_string(kParentId), _))
      .WillOnce(Return(
          ErrorWithInfo(absl::StatusCode::kFailedPrecondition, "expired", "RESERVATION_EXPIRED")));
  EXPECT_CALL(tx(),
              ApplyChange(::testing::AllOf(Field(&StatusChange::to, ov1::ORDER_STATUS_CANCELLED),
                                           Field(&StatusChange::action, "timeout"),
                                           Field(&StatusChange::expected_version, 3))))
      .WillOnce(Return(4));
  EXPECT_CALL(tx(), UnfreezeBenefits(kParentId)).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(tx(), DeleteTimer(kParentId)).WillOnce(Return(absl::OkStatus()));
  std::vector<ev1::EventEnvelope> emitted;
  EXPECT_CALL(tx(), AppendEvent(_)).Times(2).WillRepeatedly([&](ev1::EventEnvelope& e) {
    emitted.push_back(e);
    return absl::OkStatus();
  });
  // Nothing is paid: no UseFrozenBenefits, no OrderPaid (the strict mock would fail).
  ev1::EventEnvelope e;
  e.set_event_id("ev-3");
  auto* p = e.mutable_payment_succeeded();
  p->set_payment_id("pay-9");
  p->set_order_id(std::to_string(kParentId));
  p->mutable_amount()->set_amount_minor(12345);
  ORDERLY_EXPECT_OK(Handle(e));
  ASSERT_EQ(emitted.size(), 2u);
  ASSERT_TRUE(emitted[0].has_order_cancelled());
  EXPECT_EQ(emitted[0].order_cancelled().reason(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT);
  EXPECT_FALSE(emitted[0].order_cancelled().was_paid());
  ASSERT_TRUE(emitted[1].has_order_refund_requested());
  const auto& refund = emitted[1].order_refund_requested();
  EXPECT_EQ(refund.reason(), payment::v1::REFUND_REASON_PAID_AFTER_CANCEL);
  EXPECT_EQ(refund.amount().amount_minor(), 12345);
  EXPECT_EQ(refund.refund_request_id(), "order:7001:paid-after-cancel:pay-9");
  EXPECT_EQ(emitted[1].causation_id(), "ev-3");
}

TEST_F(OrderManagerUnitTest, AnotherBuyersOrderIsNotFound) {
  EXPECT_CALL(tx(), LoadFull(kParentId))
      .WillOnce(Return(Record(kParentId, ov1::ORDER_STATUS_PAID, true, clock_->Now())));
  auto got = manager_->GetOrder({"buyer-2", Role::kBuyer}, std::to_string(kParentId));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(got.status()), "ORDER_NOT_FOUND");
}

TEST_F(OrderManagerUnitTest, BuyerViewListsTheCallersOwnOrdersAPageAtATime) {
  std::vector<ov1::Order> rows;
  for (int i = 0; i < 3; ++i) {
    rows.push_back(
        Record(kParentId - i, ov1::ORDER_STATUS_PAID, true, clock_->Now() - std::chrono::minutes(i))
            .order);
  }
  // One more row than the page tells that a next page exists.
  EXPECT_CALL(tx(), List(::testing::AllOf(Field(&ListQuery::view, ListQuery::View::kBuyer),
                                          Field(&ListQuery::buyer_id, "buyer-1"),
                                          Field(&ListQuery::limit, 3))))
      .WillOnce(Return(rows));
  ov1::ListOrdersRequest req;
  req.set_view(ov1::ORDER_LIST_VIEW_BUYER);
  req.set_page_size(2);
  req.add_statuses(ov1::ORDER_STATUS_PAID);
  auto page = manager_->ListOrders({"buyer-1", Role::kBuyer}, req);
  ORDERLY_ASSERT_OK(page.status());
  ASSERT_EQ(page->orders_size(), 2);
  EXPECT_EQ(page->orders(0).buyer_status_view(), BuyerViewOf(ov1::ORDER_STATUS_PAID));
  ASSERT_FALSE(page->next_page_token().empty());

  // The token continues after the last row shown, with the same filters only.
  EXPECT_CALL(tx(),
              List(Field(&ListQuery::after,
                         std::optional<std::pair<int64_t, int64_t>>(
                             {std::chrono::duration_cast<std::chrono::microseconds>(
                                  (clock_->Now() - std::chrono::minutes(1)).time_since_epoch())
                                  .count(),
                              kParentId - 1}))))
      .WillOnce(Return(std::vector<ov1::Order>{}));
  req.set_page_token(page->next_page_token());
  ORDERLY_EXPECT_OK(manager_->ListOrders({"buyer-1", Role::kBuyer}, req).status());
  req.clear_statuses();
  auto other = manager_->ListOrders({"buyer-1", Role::kBuyer}, req);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(other.status()), "INVALID_PAGE_TOKEN");
  // Another buyer cannot reuse it either.
  req.add_statuses(ov1::ORDER_STATUS_PAID);
  auto stolen = manager_->ListOrders({"buyer-2", Role::kBuyer}, req);
  EXPECT_EQ(ErrorReason(stolen.status()), "INVALID_PAGE_TOKEN");
}

TEST_F(OrderManagerUnitTest, ListViewsFollowTheCallersRole) {
  ov1::ListOrdersRequest req;
  req.set_view(ov1::ORDER_LIST_VIEW_BUYER);
  auto merchant = manager_->ListOrders({"m1", Role::kMerchant}, req);
  EXPECT_EQ(merchant.status().code(), absl::StatusCode::kPermissionDenied);
  // Filters by buyer or merchant belong to the ADMIN view.
  req.set_buyer_id("buyer-2");
  auto filtered = manager_->ListOrders({"buyer-1", Role::kBuyer}, req);
  EXPECT_EQ(filtered.status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing was read for either (the strict transaction mock would fail on List).
}

}  // namespace
}  // namespace orderly::order_core
