// The order-event handler inside the inbox transaction: OrderPaid confirms, OrderCancelled
// releases, redelivery and refusals commit nothing but the handling itself; a paid order whose
// reservation is gone takes the stock again or is refused once, loudly (StockConfirmRefused).
#include "inventory_fixture.hpp"
#include "order_event_handler.hpp"

namespace orderly::inventory::testing {
namespace {

class OrderEventsTest : public InventoryFixture {
 protected:
  absl::Status Deliver(const events::v1::EventEnvelope& ev) {
    OrderEventHandler handler(*reservations_, clock_);
    return pool_->InTransaction([&](pqxx::transaction_base& tx) { return handler.Handle(tx, ev); });
  }
  static events::v1::EventEnvelope Paid(const std::string& order, const std::string& parent = "") {
    events::v1::EventEnvelope ev;
    ev.set_order_id(order);
    ev.mutable_order_paid()->set_order_id(order);
    ev.mutable_order_paid()->set_parent_order_id(parent);
    return ev;
  }
  // The StockConfirmRefused events the outbox holds for an order, oldest first.
  std::vector<events::v1::StockConfirmRefused> Refusals(const std::string& order) {
    std::vector<events::v1::StockConfirmRefused> out;
    for (const auto& ev : Events(order)) {
      if (ev.has_stock_confirm_refused()) out.push_back(ev.stock_confirm_refused());
    }
    return out;
  }
  events::v1::EventEnvelope LastOf(const std::string& order, const std::string& type) {
    events::v1::EventEnvelope last;
    for (const auto& ev : Events(order)) {
      if (ev.event_type() == "orderly.events.v1." + type) last = ev;
    }
    return last;
  }
  std::vector<events::v1::EventEnvelope> Events(const std::string& order) {
    std::vector<events::v1::EventEnvelope> out;
    EXPECT_TRUE(
        pool_
            ->InTransaction([&](pqxx::transaction_base& tx) {
              for (const auto& r : tx.exec_params(
                       "SELECT payload FROM outbox WHERE aggregate_id = $1 ORDER BY id", order)) {
                pqxx::binarystring b(r[0]);
                events::v1::EventEnvelope ev;
                EXPECT_TRUE(ev.ParseFromArray(b.data(), static_cast<int>(b.size())));
                out.push_back(std::move(ev));
              }
              return absl::OkStatus();
            })
            .ok());
    return out;
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

// A reservation confirmed for an order that then ended unpaid (order-core confirmed a late payment
// and died before recording it; the timeout then cancelled the order): no payment, no sale.
TEST_F(OrderEventsTest, UnpaidCancellationReturnsStockThatWasConfirmed) {
  AddSku(Sku("a", 2), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 3}})));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o1"));
  EXPECT_EQ(Level("a").sold, 3);
  ORDERLY_ASSERT_OK(Deliver(Cancelled("o1", /*was_paid=*/false)));
  auto r = reservations_->Get("o1");
  EXPECT_EQ(r->state, ReservationState::kReleased);
  EXPECT_EQ(r->release_reason, v1::RELEASE_REASON_PAYMENT_TIMEOUT);
  EXPECT_EQ(Level("a").sold, 0);
  EXPECT_EQ(Level("a").available, 10);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockReleased'"), 1);
  ORDERLY_ASSERT_OK(Deliver(Cancelled("o1", /*was_paid=*/false)));  // redelivery: nothing more
  EXPECT_EQ(Level("a").available, 10);
}

TEST_F(OrderEventsTest, RefusalsCommitWithoutPartialWrites) {
  AddSku(Sku("a"), 10);
  // Deduct-at-payment SKU sold out by payment time: the partial work is rolled back, the refusal
  // is announced and the order's other lines go back to available stock.
  SkuRecord d = Sku("d");
  d.deduction_policy = v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT;
  AddSku(d, 2);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 2}, {"d", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o3", {{"d", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o3"));
  ORDERLY_ASSERT_OK(Deliver(Paid("o2")));
  EXPECT_EQ(reservations_->Get("o2")->state, ReservationState::kReleased);
  EXPECT_EQ(Level("a").sold, 0);
  EXPECT_EQ(Level("a").reserved, 0);
  EXPECT_EQ(Level("a").available, 10);
  EXPECT_EQ(Level("d").sold, 2);
  auto refused = Refusals("o2");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].reason(), "INSUFFICIENT_STOCK");
  EXPECT_EQ(refused[0].sku_id(), "d");
  EXPECT_EQ(refused[0].requested(), 2);
  EXPECT_EQ(refused[0].available(), 0);
  // A cancellation for an order never reserved leaves a tombstone.
  ORDERLY_ASSERT_OK(Deliver(Cancelled("ghost")));
  EXPECT_EQ(reservations_->Get("ghost")->state, ReservationState::kTombstone);
}

// The release race of issue 12: a reservation released (any caller's Release, or a cancel that
// lost to the payment) while the buyer pays. The stock is still there: it is sold to this order.
TEST_F(OrderEventsTest, PaidAfterReleaseTakesTheStockAgainWhileItLasts) {
  AddSku(Sku("a", 4), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 1}})));
  ORDERLY_ASSERT_OK(reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED));
  EXPECT_EQ(Level("a").available, 10);
  ORDERLY_ASSERT_OK(Deliver(Paid("o1")));
  auto r = reservations_->Get("o1");
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->state, ReservationState::kConfirmed);
  ASSERT_EQ(r->lines.size(), 1u);
  EXPECT_EQ(r->lines[0].state, LineState::kDeducted);
  EXPECT_EQ(Level("a").available, 9);
  EXPECT_EQ(Level("a").sold, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockDeducted'"), 1);
  EXPECT_TRUE(LastOf("o1", "StockDeducted").stock_deducted().reacquired());
  EXPECT_TRUE(Refusals("o1").empty());
  // Redelivered: nothing more is taken.
  ORDERLY_ASSERT_OK(Deliver(Paid("o1")));
  EXPECT_EQ(Level("a").sold, 1);
  // The expiry race with the stock still there: a lapsed hold is expired and taken again.
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 2}})));
  clock_->Advance(std::chrono::minutes(31));
  ORDERLY_ASSERT_OK(Deliver(Paid("o2")));
  EXPECT_EQ(reservations_->Get("o2")->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").sold, 3);
  EXPECT_EQ(Level("a").reserved, 0);
}

// The same races with the freed units sold to other buyers: 11 orders must never hold 10 units.
// The paid order is refused, once, and loudly (StockConfirmRefused: order-core cancels and
// refunds); stock that comes back later is not sold to it.
TEST_F(OrderEventsTest, PaidAfterReleaseOrExpiryWithTheStockGoneIsRefusedOnce) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("released", {{"a", 1}})));
  ORDERLY_ASSERT_OK(reservations_->Release("released", v1::RELEASE_REASON_ORDER_CANCELLED));
  for (int i = 0; i < 10; ++i) {
    const std::string other = "other-" + std::to_string(i);
    ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd(other, {{"a", 1}})));
    ORDERLY_ASSERT_OK(Deliver(Paid(other)));
  }
  EXPECT_EQ(Level("a").sold, 10);
  ORDERLY_ASSERT_OK(Deliver(Paid("released")));
  EXPECT_EQ(Level("a").sold, 10);
  EXPECT_EQ(reservations_->Get("released")->state, ReservationState::kReleased);
  auto refused = Refusals("released");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].order_id(), "released");
  EXPECT_EQ(refused[0].reason(), "INSUFFICIENT_STOCK");
  EXPECT_EQ(refused[0].sku_id(), "a");
  EXPECT_EQ(refused[0].available(), 0);
  ASSERT_EQ(refused[0].lines_size(), 1);
  EXPECT_EQ(refused[0].lines(0).quantity(), 1);
  // Redelivery, and stock received meanwhile: still refused, never announced twice.
  ORDERLY_ASSERT_OK(catalog_->ReceiveStock("a", 5, "restock-1", "restock"));
  ORDERLY_ASSERT_OK(Deliver(Paid("released")));
  EXPECT_EQ(Refusals("released").size(), 1u);
  EXPECT_EQ(Level("a").sold, 10);
  EXPECT_EQ(Level("a").available, 5);

  // The expiry race: the hold lapsed and the sweeper returned it before the payment arrived.
  AddSku(Sku("b"), 1);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("late", {{"b", 1}})));
  clock_->Advance(std::chrono::minutes(31));
  ORDERLY_ASSERT_OK(reservations_->ExpireDue(100));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("winner", {{"b", 1}})));
  ORDERLY_ASSERT_OK(Deliver(Paid("winner")));
  ORDERLY_ASSERT_OK(Deliver(Paid("child-of-late", "late")));
  ORDERLY_ASSERT_OK(Deliver(Paid("late")));
  refused = Refusals("late");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].paid_order_id(), "child-of-late");
  EXPECT_EQ(Level("b").sold, 1);
  EXPECT_EQ(reservations_->Get("late")->state, ReservationState::kExpired);

  // Paid with no reservation at all: refused, and a tombstone keeps a late Reserve out.
  ORDERLY_ASSERT_OK(Deliver(Paid("never-reserved")));
  refused = Refusals("never-reserved");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].reason(), "RESERVATION_NOT_FOUND");
  EXPECT_EQ(ErrorReason(reservations_->Reserve(Cmd("never-reserved", {{"a", 1}})).status()),
            "RESERVATION_RELEASED");
}

}  // namespace
}  // namespace orderly::inventory::testing
