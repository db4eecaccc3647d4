// Reservation rules of the paid-order path checked against mocked storage (no database): what is
// read, taken and written, and what is never touched.
#include "reservation_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mock_stock_repository.hpp"
#include "orderly/core/status.hpp"

namespace orderly::inventory::testing {
namespace {

using ::testing::_;
using ::testing::Return;
using ::testing::StrictMock;

Reservation Released(const std::string& order_id) {
  Reservation r;
  r.order_id = order_id;
  r.state = ReservationState::kReleased;
  ReservationLine line;
  line.sku_id = "sku-1";
  line.quantity = 2;
  line.state = LineState::kReleased;
  line.allocations = {{0, 2}};
  r.lines.push_back(line);
  return r;
}

SkuRecord Sku() {
  SkuRecord s;
  s.sku_id = "sku-1";
  s.stock_buckets = 1;
  return s;
}

class ReservationManagerTest : public ::testing::Test {
 protected:
  StrictMock<MockStockTx> tx_;
  MockStockRepository repo_{tx_};
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000));
  ReservationManager manager_{repo_, nullptr, clock_};
};

// A refused order is being refunded: stock that came back since is not taken for it.
TEST_F(ReservationManagerTest, ReacquireNeverTakesStockForARefusedOrder) {
  EXPECT_CALL(tx_, FindConfirmRefusal("o1"))
      .WillOnce(Return(std::optional<std::string>("INSUFFICIENT_STOCK")));
  Outcome out;
  absl::Status s = manager_.ReacquireInTx(tx_, "o1", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(s), "RESERVATION_RELEASED");
  // StrictMock: no FindReservation, TakeAvailable, UpdateReservation or AppendEvent happened.
}

// Short on one line: the caller gets INSUFFICIENT_STOCK with the figures and rolls back; nothing
// is written here.
TEST_F(ReservationManagerTest, ReacquireShortOfStockWritesNothing) {
  EXPECT_CALL(tx_, FindConfirmRefusal("o1")).WillOnce(Return(std::optional<std::string>()));
  EXPECT_CALL(tx_, FindReservation("o1", true))
      .WillOnce(Return(std::optional<Reservation>(Released("o1"))));
  EXPECT_CALL(tx_, FindSkus(std::vector<std::string>{"sku-1"}, false))
      .WillOnce(Return(std::vector<SkuRecord>{Sku()}));
  EXPECT_CALL(tx_, TakeAvailable("sku-1", _, 2, TakeInto::kSold))
      .WillOnce(Return(std::vector<Allocation>{}));
  EXPECT_CALL(tx_, AvailableOf("sku-1")).WillOnce(Return(1));
  Outcome out;
  absl::Status s = manager_.ReacquireInTx(tx_, "o1", &out);
  EXPECT_EQ(ErrorReason(s), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(s, "available"), "1");
}

// The refusal is announced once per reservation: a second OrderPaid of the order (another child
// of a split order, a redelivery) writes and emits nothing.
TEST_F(ReservationManagerTest, ARefusalIsAnnouncedOnce) {
  const absl::Status refusal = FailedPreconditionError("RESERVATION_RELEASED", "order/o1", "gone");
  EXPECT_CALL(tx_, RecordConfirmRefusal("o1", "RESERVATION_RELEASED")).WillOnce(Return(false));
  bool emitted = true;
  ASSERT_TRUE(manager_.RefuseConfirmInTx(tx_, "o1", "child-2", refusal, &emitted).ok());
  EXPECT_FALSE(emitted);
}

// The first refusal of an expired reservation: recorded, and StockConfirmRefused carries the
// reservation's lines and the child whose payment was refused. Nothing is released (it was
// already) and no tombstone is written (it exists).
TEST_F(ReservationManagerTest, TheFirstRefusalIsRecordedAndEmitted) {
  Reservation expired = Released("o1");
  expired.state = ReservationState::kExpired;
  const absl::Status refusal = FailedPreconditionError("RESERVATION_EXPIRED", "order/o1", "late");
  EXPECT_CALL(tx_, RecordConfirmRefusal("o1", "RESERVATION_EXPIRED")).WillOnce(Return(true));
  EXPECT_CALL(tx_, FindReservation("o1", true))
      .WillOnce(Return(std::optional<Reservation>(expired)));
  events::v1::EventEnvelope sent;
  EXPECT_CALL(tx_, AppendEvent(_)).WillOnce([&](events::v1::EventEnvelope& e) {
    sent = e;
    return absl::OkStatus();
  });
  bool emitted = false;
  ASSERT_TRUE(manager_.RefuseConfirmInTx(tx_, "o1", "child-1", refusal, &emitted).ok());
  EXPECT_TRUE(emitted);
  ASSERT_TRUE(sent.has_stock_confirm_refused());
  EXPECT_EQ(sent.aggregate_type(), "reservation");
  EXPECT_EQ(sent.order_id(), "o1");
  EXPECT_EQ(sent.stock_confirm_refused().paid_order_id(), "child-1");
  EXPECT_EQ(sent.stock_confirm_refused().reason(), "RESERVATION_EXPIRED");
  ASSERT_EQ(sent.stock_confirm_refused().lines_size(), 1);
  EXPECT_EQ(sent.stock_confirm_refused().lines(0).quantity(), 2);
}

}  // namespace
}  // namespace orderly::inventory::testing
