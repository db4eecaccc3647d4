// The state-machine tables, status views and parent derivation (pure).
#include "order_flows.hpp"

#include <gtest/gtest.h>

#include "orderly/core/status.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
using std::chrono::hours;

class OrderFlowsTest : public ::testing::Test {
 protected:
  OrderFlowsPtr flows_ = OrderFlows::Default();
  const OrderFlow& normal() { return *flows_->Find(common::v1::ORDER_TYPE_NORMAL); }
  const OrderFlow& flash() { return *flows_->Find(common::v1::ORDER_TYPE_FLASH_SALE); }
  static GuardInput At(OrderStatus s) {
    GuardInput g;
    g.status = s;
    g.now = TimePoint(hours(1000));
    return g;
  }
};

TEST_F(OrderFlowsTest, HappyPathOfANormalOrder) {
  struct Step {
    OrderStatus from;
    const char* action;
    const char* actor;
    OrderStatus to;
  };
  const Step steps[] = {
      {ov1::ORDER_STATUS_PENDING_PAYMENT, kActionPay, kActorSystem, ov1::ORDER_STATUS_PAID},
      {ov1::ORDER_STATUS_PAID, kActionAccept, kActorSystem, ov1::ORDER_STATUS_AWAITING_SHIPMENT},
      {ov1::ORDER_STATUS_AWAITING_SHIPMENT, kActionShip, kActorSystem, ov1::ORDER_STATUS_SHIPPED},
      {ov1::ORDER_STATUS_SHIPPED, kActionDeliver, kActorSystem, ov1::ORDER_STATUS_DELIVERED},
      {ov1::ORDER_STATUS_DELIVERED, kActionConfirmReceipt, kActorBuyer,
       ov1::ORDER_STATUS_COMPLETED},
  };
  for (const auto& s : steps) {
    auto to = normal().Next(At(s.from), s.action, s.actor);
    ASSERT_TRUE(to.ok()) << StatusName(s.from) << " " << s.action << ": " << to.status();
    EXPECT_EQ(*to, s.to);
  }
}

TEST_F(OrderFlowsTest, CancelledNeverBecomesPaid) {
  auto to = normal().Next(At(ov1::ORDER_STATUS_CANCELLED), kActionPay, kActorSystem);
  ASSERT_FALSE(to.ok());
  EXPECT_EQ(to.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(to.status()), "ILLEGAL_TRANSITION");
  EXPECT_EQ(ErrorMetadata(to.status(), "current_status"), "CANCELLED");
  EXPECT_EQ(ErrorMetadata(to.status(), "action"), "pay");
  EXPECT_NE(std::string(to.status().message()).find("CANCELLED"), std::string::npos);
}

TEST_F(OrderFlowsTest, NoStepBackwards) {
  const std::vector<OrderStatus> order = {
      ov1::ORDER_STATUS_PENDING_PAYMENT,   ov1::ORDER_STATUS_PAID,
      ov1::ORDER_STATUS_AWAITING_SHIPMENT, ov1::ORDER_STATUS_SHIPPED,
      ov1::ORDER_STATUS_DELIVERED,         ov1::ORDER_STATUS_COMPLETED};
  auto rank = [&](OrderStatus s) {
    return std::find(order.begin(), order.end(), s) - order.begin();
  };
  for (const OrderFlow* flow : {&normal(), &flash()}) {
    for (const auto& t : flow->machine().table()) {
      const OrderStatus from = StatusFromName(t.from);
      const OrderStatus to = StatusFromName(t.to);
      if (rank(from) < static_cast<long>(order.size()) &&
          rank(to) < static_cast<long>(order.size())) {
        EXPECT_GE(rank(to), rank(from)) << t.from << " -" << t.action << "-> " << t.to;
      }
    }
  }
}

TEST_F(OrderFlowsTest, CompletedOnlyReopensForAfterSaleWithinTheWindow) {
  GuardInput g = At(ov1::ORDER_STATUS_COMPLETED);
  g.completed_at = g.now - hours(24);
  EXPECT_EQ(*normal().Next(g, kActionAfterSaleOpen, kActorSystem),
            ov1::ORDER_STATUS_AFTER_SALE_IN_PROGRESS);
  g.completed_at = g.now - hours(24 * 8);
  auto late = normal().Next(g, kActionAfterSaleOpen, kActorSystem);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(ErrorReason(late.status()), "AFTER_SALE_WINDOW_CLOSED");
  for (const auto& action : normal().machine().ActionsFrom("COMPLETED")) {
    EXPECT_EQ(action, kActionAfterSaleOpen);
  }
}

TEST_F(OrderFlowsTest, AfterSaleEndReturnsWhereItCameFrom) {
  GuardInput g = At(ov1::ORDER_STATUS_AFTER_SALE_IN_PROGRESS);
  g.status_before_after_sale = ov1::ORDER_STATUS_SHIPPED;
  EXPECT_EQ(*normal().Next(g, kActionAfterSaleEnd, kActorSystem), ov1::ORDER_STATUS_SHIPPED);
  EXPECT_EQ(*normal().Next(g, kActionAfterSaleRefunded, kActorSystem),
            ov1::ORDER_STATUS_AFTER_SALE_COMPLETED);
  EXPECT_TRUE(normal().machine().IsTerminal("AFTER_SALE_COMPLETED"));
  EXPECT_TRUE(normal().machine().IsTerminal("CANCELLED"));
}

TEST_F(OrderFlowsTest, ActorsAreChecked) {
  // Buyers cancel only unpaid orders; admins may cancel paid ones.
  auto buyer = normal().Next(At(ov1::ORDER_STATUS_PAID), kActionCancel, kActorBuyer,
                             "ORDER_NOT_CANCELLABLE");
  // The documented refusal (issue 12.5), not PERMISSION_DENIED ACTOR_NOT_ALLOWED.
  EXPECT_EQ(buyer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(buyer.status()), "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(ErrorMetadata(buyer.status(), "current_status"), "PAID");
  EXPECT_EQ(*normal().Next(At(ov1::ORDER_STATUS_PAID), kActionCancel, kActorAdmin),
            ov1::ORDER_STATUS_CANCELLED);
  // Only the system pays or times out.
  EXPECT_FALSE(normal().Next(At(ov1::ORDER_STATUS_PENDING_PAYMENT), kActionPay, kActorBuyer).ok());
  EXPECT_FALSE(
      normal().Next(At(ov1::ORDER_STATUS_PENDING_PAYMENT), kActionTimeout, kActorBuyer).ok());
}

TEST_F(OrderFlowsTest, FlashSaleHasItsOwnTableAndWindow) {
  EXPECT_EQ(flash().payment_window(), std::chrono::minutes(5));
  EXPECT_EQ(normal().payment_window(), std::chrono::minutes(30));
  EXPECT_TRUE(normal().Next(At(ov1::ORDER_STATUS_PAID), kActionChangeAddress, kActorBuyer).ok());
  EXPECT_FALSE(flash().Next(At(ov1::ORDER_STATUS_PAID), kActionChangeAddress, kActorBuyer).ok());
  EXPECT_EQ(flows_->Find(common::v1::ORDER_TYPE_UNSPECIFIED), nullptr);
}

TEST_F(OrderFlowsTest, ConfiguredWindows) {
  FlowOptions o;
  o.normal_payment_window = std::chrono::seconds(2);
  o.flash_sale_payment_window = std::chrono::seconds(1);
  auto flows = OrderFlows::Default(o);
  EXPECT_EQ(flows->Find(common::v1::ORDER_TYPE_NORMAL)->payment_window(), std::chrono::seconds(2));
  EXPECT_EQ(flows->Find(common::v1::ORDER_TYPE_FLASH_SALE)->payment_window(),
            std::chrono::seconds(1));
}

TEST(StatusViews, EveryStatusHasABuyerAndMerchantName) {
  for (int s = 1; s <= 9; ++s) {
    const auto status = static_cast<OrderStatus>(s);
    EXPECT_NE(BuyerViewOf(status), ov1::BUYER_ORDER_STATUS_UNSPECIFIED) << StatusName(status);
    EXPECT_NE(MerchantViewOf(status), ov1::MERCHANT_ORDER_STATUS_UNSPECIFIED) << StatusName(status);
  }
  EXPECT_EQ(BuyerViewOf(ov1::ORDER_STATUS_AWAITING_SHIPMENT), ov1::BUYER_ORDER_STATUS_TO_SHIP);
  EXPECT_EQ(MerchantViewOf(ov1::ORDER_STATUS_PAID), ov1::MERCHANT_ORDER_STATUS_TO_ACCEPT);
  EXPECT_EQ(MerchantViewOf(ov1::ORDER_STATUS_AFTER_SALE_COMPLETED),
            ov1::MERCHANT_ORDER_STATUS_REFUNDED);
}

TEST(ParentStatus, LeastAdvancedChild) {
  EXPECT_EQ(DeriveParentStatus({ov1::ORDER_STATUS_SHIPPED, ov1::ORDER_STATUS_AWAITING_SHIPMENT}),
            ov1::ORDER_STATUS_AWAITING_SHIPMENT);
  EXPECT_EQ(DeriveParentStatus({ov1::ORDER_STATUS_COMPLETED, ov1::ORDER_STATUS_CANCELLED}),
            ov1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(DeriveParentStatus({ov1::ORDER_STATUS_CANCELLED, ov1::ORDER_STATUS_CANCELLED}),
            ov1::ORDER_STATUS_CANCELLED);
}

}  // namespace
}  // namespace orderly::order_core
