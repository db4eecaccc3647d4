// The order-event handler inside the inbox transaction: OrderPaid confirms, OrderCancelled
// releases, redelivery and refusals commit nothing but the handling itself.
#include "inventory_fixture.hpp"
#include "order_event_handler.hpp"

namespace orderly::inventory::testing {
namespace {

class OrderEventsTest : public InventoryFixture {
 protected:
  absl::Status Deliver(const events::v1::EventEnvelope& ev) {
    OrderEventHandler handler(*reservations_, clock_);
    return pool_->InTransaction(
        [&](pqxx::transaction_base& tx) { return handler.Handle(tx, ev); });
  }
  static events::v1::EventEnvelope Paid(const std::string& order, const std::string& parent = "") {
    events::v1::EventEnvelope ev;
    ev.set_order_id(order);
    ev.mutable_order_paid()->set_order_id(order);
    ev.mutable_order_paid()->set_parent_order_id(parent);
    return ev;
  }
  static events::v1::EventEnvelope Cancelled(const std::string& order, bool was_paid = false) {
    events::v1::EventEnvelope ev;
    ev.set_order_id(order);
    auto* c = ev.mutable_order_cancelled();
    c->set_order_id(order);
    c->set_was_paid(was_paid);
    c->set_reason(order::v1::CANCEL_REASON_PAYMENT_TIMEOUT);
    return ev;
  }
};

TEST_F(OrderEventsTest, PaidConfirmsOnceAndChildrenUseTheParentReservation) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("parent", {{"a", 3}})));
  ORDERLY_ASSERT_OK(Deliver(Paid("child-1", "parent")));
  ORDERLY_ASSERT_OK(Deliver(Paid("child-2", "parent")));
  ORDERLY_ASSERT_OK(Deliver(Paid("parent")));
  EXPECT_EQ(reservations_->Get("parent")->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").sold, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockDeducted'"), 1);
}

TEST_F(OrderEventsTest, CancelledReleasesAndPaidCancellationsAreLeftToAfterSale) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 4}})));
  ORDERLY_ASSERT_OK(Deliver(Cancelled("o1")));
  auto r = reservations_->Get("o1");
  EXPECT_EQ(r->state, ReservationState::kReleased);
  EXPECT_EQ(r->release_reason, v1::RELEASE_REASON_PAYMENT_TIMEOUT);
  EXPECT_EQ(Level("a").available, 10);

  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o2"));
  ORDERLY_ASSERT_OK(Deliver(Cancelled("o2", /*was_paid=*/true)));
  EXPECT_EQ(reservations_->Get("o2")->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").sold, 2);
}

TEST_F(OrderEventsTest, RefusalsCommitWithoutPartialWrites) {
  AddSku(Sku("a"), 10);
  // Paid after the cancellation: refused (payment refunds), nothing changes, the event is done.
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 1}})));
  ORDERLY_ASSERT_OK(Deliver(Cancelled("o1")));
  ORDERLY_ASSERT_OK(Deliver(Paid("o1")));
  EXPECT_EQ(reservations_->Get("o1")->state, ReservationState::kReleased);
  // Deduct-at-payment SKU sold out by payment time: the partial work is rolled back.
  SkuRecord d = Sku("d");
  d.deduction_policy = v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT;
  AddSku(d, 2);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 2}, {"d", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o3", {{"d", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o3"));
  ORDERLY_ASSERT_OK(Deliver(Paid("o2")));
  EXPECT_EQ(reservations_->Get("o2")->state, ReservationState::kReserved);
  EXPECT_EQ(Level("a").sold, 0);
  EXPECT_EQ(Level("a").reserved, 2);
  // A cancellation for an order never reserved leaves a tombstone.
  ORDERLY_ASSERT_OK(Deliver(Cancelled("ghost")));
  EXPECT_EQ(reservations_->Get("ghost")->state, ReservationState::kTombstone);
}

}  // namespace
}  // namespace orderly::inventory::testing
