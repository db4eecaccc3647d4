// Reservations on the database path against a real PostgreSQL: all-or-nothing Reserve, bad
// input writing nothing, replayed and reordered Reserve / Confirm / Release, expiry, deduction
// policies, and the race for the last units.
#include <condition_variable>
#include <mutex>

#include "inventory_fixture.hpp"
#include "orderly/core/metrics.hpp"
#include "worker_pool.hpp"

namespace orderly::inventory::testing {
namespace {

class ReservationTest : public InventoryFixture {
 protected:
  int64_t Outbox() { return Count("SELECT count(*) FROM outbox"); }
  int64_t Reservations() { return Count("SELECT count(*) FROM reservations"); }

  // ReserveAsync (the gRPC handler's entry) for every command at once from 4 threads, database
  // work on a pool of 8; returns the answers in command order.
  std::vector<absl::StatusOr<Reservation>> ReserveAllAsync(
      const std::vector<ReserveCommand>& cmds) {
    WorkerPool pool(8);
    ReservationManager::Submit submit = [&pool](std::function<void()> t) {
      pool.Submit(std::move(t));
    };
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    std::vector<absl::StatusOr<Reservation>> out(cmds.size(), absl::UnknownError("no answer"));
    std::vector<std::thread> callers;
    for (size_t t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] {
        for (size_t i = t; i < cmds.size(); i += 4) {
          reservations_->ReserveAsync(cmds[i], submit, [&, i](absl::StatusOr<Reservation> r) {
            std::lock_guard lock(mu);
            out[i] = std::move(r);
            ++done;
            cv.notify_all();
          });
        }
      });
    }
    for (auto& c : callers) c.join();
    std::unique_lock lock(mu);
    EXPECT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == int(cmds.size()); }));
    return out;
  }

  static double SoldOutChecks(const std::string& outcome) {
    return orderly::metrics::Registry::Default()
        .GetCounter("orderly_inventory_sold_out_checks_total", "", {{"outcome", outcome}})
        .Value();
  }
};

TEST_F(ReservationTest, ReservesAllLinesAndConfirmSellsThem) {
  AddSku(Sku("a"), 10);
  AddSku(Sku("b"), 5);
  auto r = reservations_->Reserve(Cmd("o1", {{"b", 2}, {"a", 3}}));
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->state, ReservationState::kReserved);
  ASSERT_EQ(r->lines.size(), 2u);
  EXPECT_EQ(r->lines[0].sku_id, "a");  // sorted
  EXPECT_EQ(Level("a").available, 7);
  EXPECT_EQ(Level("a").reserved, 3);
  EXPECT_EQ(ToUnixMillis(r->expires_at), ToUnixMillis(clock_->Now() + 30min));

  auto c = reservations_->Confirm("o1");
  ORDERLY_ASSERT_OK(c);
  EXPECT_EQ(c->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").reserved, 0);
  EXPECT_EQ(Level("a").sold, 3);
  EXPECT_EQ(Level("b").sold, 2);
  // StockReserved + StockDeducted (+ the SkuUpserted of the set-up).
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockReserved'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockDeducted'"), 1);
}

TEST_F(ReservationTest, OneShortLineReservesNothing) {
  AddSku(Sku("a"), 10);
  AddSku(Sku("b"), 1);
  const int64_t outbox = Outbox();
  auto r = reservations_->Reserve(Cmd("o1", {{"a", 3}, {"b", 2}}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(r.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(r.status(), "sku_id"), "b");
  EXPECT_EQ(ErrorMetadata(r.status(), "available"), "1");
  EXPECT_EQ(ErrorMetadata(r.status(), "requested"), "2");
  EXPECT_EQ(Level("a").available, 10);
  EXPECT_EQ(Level("a").reserved, 0);
  EXPECT_EQ(Reservations(), 0);
  EXPECT_EQ(Outbox(), outbox);
}

TEST_F(ReservationTest, BadInputIsRefusedAndWritesNothing) {
  AddSku(Sku("a"), 10);
  SkuRecord limited = Sku("lim");
  limited.purchase_limit = 2;
  AddSku(limited, 10);
  SkuRecord off = Sku("off");
  off.sale_status = v1::SKU_SALE_STATUS_OFF_SALE;
  AddSku(off, 10);
  const int64_t outbox = Outbox();

  auto unknown = reservations_->Reserve(Cmd("o1", {{"a", 1}, {"ghost", 1}}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(unknown.status()), "SKU_NOT_FOUND");
  EXPECT_NE(std::string(unknown.status().message()).find("ghost"), std::string::npos);

  auto off_sale = reservations_->Reserve(Cmd("o2", {{"off", 1}}));
  EXPECT_EQ(off_sale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(off_sale.status()), "SKU_OFF_SALE");

  auto zero = reservations_->Reserve(Cmd("o3", {{"a", 0}, {"lim", -1}}));
  ASSERT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  auto fv = ErrorFieldViolations(zero.status());
  ASSERT_EQ(fv.size(), 2u);
  EXPECT_EQ(fv[0].field, "items[0].quantity");
  EXPECT_EQ(fv[1].field, "items[1].quantity");

  auto over = reservations_->Reserve(Cmd("o4", {{"a", 1}, {"lim", 3}}));
  ASSERT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFieldViolations(over.status())[0].field, "items[1].quantity");
  EXPECT_EQ(ErrorReason(over.status()), "PURCHASE_LIMIT_EXCEEDED");

  auto empty = reservations_->Reserve(Cmd("o5", {}));
  ASSERT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFieldViolations(empty.status())[0].field, "items");

  auto dup = reservations_->Reserve(Cmd("o6", {{"a", 1}, {"a", 2}}));
  ASSERT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFieldViolations(dup.status())[0].field, "items[1].sku_id");

  ReserveCommand past = Cmd("o7", {{"a", 1}});
  past.expires_at = clock_->Now() - 1s;
  auto expired = reservations_->Reserve(past);
  ASSERT_EQ(expired.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFieldViolations(expired.status())[0].field, "expires_at");

  EXPECT_EQ(Reservations(), 0);
  EXPECT_EQ(Outbox(), outbox);
  EXPECT_EQ(Level("a").available, 10);
  EXPECT_EQ(Level("lim").available, 10);
}

TEST_F(ReservationTest, ReplayedReserveReturnsTheSameReservation) {
  AddSku(Sku("a"), 10);
  auto first = reservations_->Reserve(Cmd("o1", {{"a", 4}}));
  ORDERLY_ASSERT_OK(first);
  clock_->Advance(1s);
  auto again = reservations_->Reserve(Cmd("o1", {{"a", 4}}));
  ORDERLY_ASSERT_OK(again);
  EXPECT_EQ(again->created_at, first->created_at);
  EXPECT_EQ(Level("a").reserved, 4);
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockReserved'"), 1);

  auto different = reservations_->Reserve(Cmd("o1", {{"a", 5}}));
  EXPECT_EQ(different.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(different.status()), "REQUEST_FINGERPRINT_MISMATCH");
  EXPECT_EQ(Level("a").reserved, 4);
}

TEST_F(ReservationTest, ConcurrentDuplicatesOfOneOrderReserveOnce) {
  AddSku(Sku("a"), 100);
  const int ok = Race(16, [&](int) { return reservations_->Reserve(Cmd("o1", {{"a", 3}})).ok(); });
  EXPECT_EQ(ok, 16);
  EXPECT_EQ(Level("a").reserved, 3);
  EXPECT_EQ(Reservations(), 1);
}

TEST_F(ReservationTest, ConfirmAndReleaseAreIdempotentAndExclusive) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Confirm("o1"));
  auto again = reservations_->Confirm("o1");
  ORDERLY_ASSERT_OK(again);
  EXPECT_EQ(again->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").sold, 2);
  auto release = reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED);
  EXPECT_EQ(release.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(release.status()), "RESERVATION_CONFIRMED");

  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 3}})));
  ORDERLY_ASSERT_OK(reservations_->Release("o2", v1::RELEASE_REASON_ORDER_CANCELLED));
  auto twice = reservations_->Release("o2", v1::RELEASE_REASON_ADMIN);
  ORDERLY_ASSERT_OK(twice);
  EXPECT_EQ(twice->state, ReservationState::kReleased);
  EXPECT_EQ(twice->release_reason, v1::RELEASE_REASON_ORDER_CANCELLED);  // the recorded outcome
  EXPECT_EQ(Level("a").available, 8);
  auto late_confirm = reservations_->Confirm("o2");
  EXPECT_EQ(ErrorReason(late_confirm.status()), "RESERVATION_RELEASED");
  auto late_reserve = reservations_->Reserve(Cmd("o2", {{"a", 3}}));
  EXPECT_EQ(ErrorReason(late_reserve.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Level("a").available, 8);

  auto missing = reservations_->Confirm("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(missing.status()), "RESERVATION_NOT_FOUND");
}

TEST_F(ReservationTest, ReleaseBeforeReserveLeavesATombstone) {
  AddSku(Sku("a"), 10);
  auto t = reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CREATE_FAILED);
  ORDERLY_ASSERT_OK(t);
  EXPECT_EQ(t->state, ReservationState::kTombstone);
  EXPECT_TRUE(t->lines.empty());
  auto late = reservations_->Reserve(Cmd("o1", {{"a", 1}}));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(late.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Level("a").available, 10);
  ORDERLY_EXPECT_OK(reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED));
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockReleased'"), 1);
}

TEST_F(ReservationTest, ReleaseRacingReserveNeverLeaksStock) {
  AddSku(Sku("a"), 1000);
  // Each order gets a Reserve and a Release at the same moment, in either order.
  for (int round = 0; round < 3; ++round) {
    Race(40, [&](int i) {
      const std::string order = "o" + std::to_string(round) + "-" + std::to_string(i / 2);
      if (i % 2 == 0) return reservations_->Reserve(Cmd(order, {{"a", 1}})).ok();
      return reservations_->Release(order, v1::RELEASE_REASON_ORDER_CANCELLED).ok();
    });
  }
  // Every order ended released (or tombstoned): nothing stays reserved.
  EXPECT_EQ(Level("a").reserved, 0);
  EXPECT_EQ(Level("a").available, 1000);
}

TEST_F(ReservationTest, ConfirmAfterExpiryIsRefusedAndReturnsTheStock) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 4}})));
  clock_->Advance(31min);
  auto c = reservations_->Confirm("o1");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(c.status()), "RESERVATION_EXPIRED");
  EXPECT_EQ(Level("a").available, 10);
  auto again = reservations_->Confirm("o1");
  EXPECT_EQ(ErrorReason(again.status()), "RESERVATION_EXPIRED");
  auto r = reservations_->Get("o1");
  ORDERLY_ASSERT_OK(r);
  EXPECT_EQ(r->state, ReservationState::kExpired);
}

TEST_F(ReservationTest, SweeperReleasesExpiredReservationsOnly) {
  AddSku(Sku("a"), 100);
  ReserveCommand soon = Cmd("soon", {{"a", 5}});
  soon.expires_at = clock_->Now() + 1min;
  ORDERLY_ASSERT_OK(reservations_->Reserve(soon));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("later", {{"a", 7}})));  // 30 min
  ReserveCommand flash = Cmd("paid", {{"a", 1}});
  flash.expires_at = clock_->Now() + 1min;
  ORDERLY_ASSERT_OK(reservations_->Reserve(flash));
  ORDERLY_ASSERT_OK(reservations_->Confirm("paid"));

  auto none = reservations_->ExpireDue(100);
  ORDERLY_ASSERT_OK(none);
  EXPECT_EQ(*none, 0);
  clock_->Advance(2min);
  auto n = reservations_->ExpireDue(100);
  ORDERLY_ASSERT_OK(n);
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(reservations_->Get("soon")->state, ReservationState::kExpired);
  EXPECT_EQ(reservations_->Get("later")->state, ReservationState::kReserved);
  EXPECT_EQ(reservations_->Get("paid")->state, ReservationState::kConfirmed);
  EXPECT_EQ(Level("a").reserved, 7);
  EXPECT_EQ(Level("a").available, 92);
  // A release after expiry is a no-op answering with the recorded outcome.
  auto rel = reservations_->Release("soon", v1::RELEASE_REASON_ORDER_CANCELLED);
  ORDERLY_ASSERT_OK(rel);
  EXPECT_EQ(rel->state, ReservationState::kExpired);
  clock_->Advance(30min);
  ORDERLY_ASSERT_OK(reservations_->ExpireDue(100));
  EXPECT_EQ(Level("a").reserved, 0);
  EXPECT_EQ(Level("a").available, 99);
}

TEST_F(ReservationTest, DeductAtPaymentChecksAtOrderAndDeductsAtConfirm) {
  SkuRecord s = Sku("d");
  s.deduction_policy = v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT;
  AddSku(s, 3);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"d", 2}})));
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"d", 2}})));
  EXPECT_EQ(Level("d").available, 3);  // checked, not held
  EXPECT_EQ(Level("d").reserved, 0);
  auto too_many = reservations_->Reserve(Cmd("o3", {{"d", 4}}));
  EXPECT_EQ(ErrorReason(too_many.status()), "INSUFFICIENT_STOCK");

  auto c1 = reservations_->Confirm("o1");
  ORDERLY_ASSERT_OK(c1);
  EXPECT_EQ(c1->lines[0].state, LineState::kDeducted);
  EXPECT_EQ(Level("d").sold, 2);
  // The re-check at payment fails: the caller refunds.
  auto c2 = reservations_->Confirm("o2");
  EXPECT_EQ(c2.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(c2.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(c2.status(), "available"), "1");
  EXPECT_EQ(Level("d").sold, 2);
  ORDERLY_ASSERT_OK(reservations_->Release("o2", v1::RELEASE_REASON_ORDER_CANCELLED));
  EXPECT_EQ(Level("d").available, 1);
}

TEST_F(ReservationTest, LowStockIsEmittedOnTheCrossingOnly) {
  SkuRecord s = Sku("a");
  s.low_stock_threshold = 5;
  AddSku(s, 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 5}})));  // 5 left: not below
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o2", {{"a", 1}})));  // 4: crossing
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o3", {{"a", 1}})));  // 3: still low
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockLow'"), 1);
  ORDERLY_ASSERT_OK(reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED));  // 8
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o4", {{"a", 5}})));                     // 3
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%StockLow'"), 2);
}

class LastUnitsRace : public ReservationTest, public ::testing::WithParamInterface<int> {
 protected:
  int PoolSize() override { return 32; }
};

// 200 clients race for the last 100 units: exactly 100 win, on one row and on buckets.
TEST_P(LastUnitsRace, ExactlyTheLastUnitsAreSold) {
  const int buckets = GetParam();
  AddSku(Sku("hot", buckets), 1000);
  // Sell 900 first so the race is for the last 100.
  for (int i = 0; i < 9; ++i) {
    ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("pre" + std::to_string(i), {{"hot", 100}})));
  }
  auto retries = [] {
    return orderly::metrics::Registry::Default()
        .GetCounter("orderly_inventory_reserve_retries_total", "", {{"reason", "aborted"}})
        .Value();
  };
  const double retries_before = retries();
  std::atomic<int> wrong_refusals{0};
  const int ok = Race(200, [&](int i) {
    auto r = reservations_->Reserve(Cmd("race-" + std::to_string(i), {{"hot", 1}}));
    // Every loser hears INSUFFICIENT_STOCK naming the SKU, whether the lock-free look or the
    // conditional update (after the writes began) refused it.
    if (!r.ok() && (ErrorReason(r.status()) != "INSUFFICIENT_STOCK" ||
                    ErrorMetadata(r.status(), "sku_id") != "hot" ||
                    ErrorMetadata(r.status(), "requested") != "1")) {
      wrong_refusals.fetch_add(1);
    }
    return r.ok();
  });
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(wrong_refusals.load(), 0);
  // Waiters take bucket rows in one order (migration 0004): no deadlock, so no statement ran
  // twice (each deadlock also cost deadlock_timeout, 1 s, before PostgreSQL broke it).
  EXPECT_EQ(retries(), retries_before);
  const StockLevel l = Level("hot");
  EXPECT_EQ(l.available, 0);
  EXPECT_EQ(l.reserved, 1000);
  EXPECT_EQ(Count("SELECT count(*) FROM reservations WHERE order_id LIKE 'race-%'"), 100);
  EXPECT_EQ(Count("SELECT min(available) FROM stock_buckets WHERE sku_id = 'hot'"), 0);
}

INSTANTIATE_TEST_SUITE_P(Buckets, LastUnitsRace, ::testing::Values(1, 8, 16),
                         [](const auto& info) { return "buckets" + std::to_string(info.param); });

TEST_F(ReservationTest, BucketsSplitALineThatNoSingleBucketHolds) {
  AddSku(Sku("b", 4), 8);  // 2 per bucket
  auto r = reservations_->Reserve(Cmd("o1", {{"b", 7}}));
  ORDERLY_ASSERT_OK(r);
  int64_t total = 0;
  for (const auto& a : r->lines[0].allocations) total += a.quantity;
  EXPECT_EQ(total, 7);
  EXPECT_GE(r->lines[0].allocations.size(), 4u);
  ORDERLY_ASSERT_OK(reservations_->Release("o1", v1::RELEASE_REASON_ORDER_CANCELLED));
  EXPECT_EQ(Level("b").available, 8);
}

// Reserve on the database path is one statement: what it writes must be what the transaction
// path wrote, the event included.
TEST_F(ReservationTest, OneStatementReserveWritesLinesAllocationsAndTheEvent) {
  AddSku(Sku("a"), 10);
  AddSku(Sku("b", 4), 8);
  SkuRecord d = Sku("d");
  d.deduction_policy = v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT;
  AddSku(d, 5);
  // The manager first assumes reserve-at-order for "d"; the statement answers with the
  // catalog's policy and the second attempt writes the right event.
  auto r = reservations_->Reserve(Cmd("o1", {{"d", 2}, {"b", 3}, {"a", 1}}));
  ORDERLY_ASSERT_OK(r);
  ASSERT_EQ(r->lines.size(), 3u);
  EXPECT_EQ(r->lines[0].sku_id, "a");
  EXPECT_EQ(r->lines[2].sku_id, "d");
  EXPECT_EQ(r->lines[2].policy, v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT);
  EXPECT_TRUE(r->lines[2].allocations.empty());
  ASSERT_EQ(r->lines[1].allocations.size(), 2u);  // 2 per bucket: split
  EXPECT_EQ(Level("a").reserved, 1);
  EXPECT_EQ(Level("b").reserved, 3);
  EXPECT_EQ(Level("d").reserved, 0);
  EXPECT_EQ(Level("d").available, 5);
  EXPECT_EQ(Count("SELECT count(*) FROM reservation_lines WHERE order_id = 'o1'"), 3);
  EXPECT_EQ(Count("SELECT sum(quantity) FROM reservation_allocations WHERE order_id = 'o1'"), 4);

  // The stored envelope: StockReserved with the catalog's policies, sequence 1 of the order.
  std::string payload;
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    auto row = tx.exec(
        "SELECT payload, sequence, partition_key FROM outbox "
        "WHERE event_type LIKE '%StockReserved' AND aggregate_id = 'o1'");
    EXPECT_EQ(row.size(), 1u);
    payload = pqxx::binarystring(row[0][0]).str();
    EXPECT_EQ(row[0][1].as<int64_t>(), 1);
    EXPECT_EQ(row[0][2].as<std::string>(), "o1");
    return absl::OkStatus();
  }));
  events::v1::EventEnvelope ev;
  ASSERT_TRUE(ev.ParseFromString(payload));
  EXPECT_EQ(ev.aggregate_type(), "reservation");
  EXPECT_FALSE(ev.event_id().empty());
  ASSERT_EQ(ev.stock_reserved().lines_size(), 3);
  EXPECT_EQ(ev.stock_reserved().lines(2).deduction_policy(),
            v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT);
  EXPECT_EQ(ev.stock_reserved().lines(0).deduction_policy(), v1::DEDUCTION_POLICY_RESERVE_AT_ORDER);

  // Confirm sells what Reserve allocated.
  ORDERLY_ASSERT_OK(reservations_->Confirm("o1"));
  EXPECT_EQ(Level("b").sold, 3);
  EXPECT_EQ(Level("d").sold, 2);
}

TEST_F(ReservationTest, OneStatementReserveRefusesInRequestOrderWithDetails) {
  AddSku(Sku("a"), 1);
  AddSku(Sku("b"), 1);
  SkuRecord off = Sku("off");
  off.sale_status = v1::SKU_SALE_STATUS_OFF_SALE;
  AddSku(off, 3);
  SkuRecord flash = Sku("fs");
  flash.flash_sale = true;
  AddSku(flash, 5);
  const int64_t outbox = Outbox();
  // Request order decides which short line is named.
  auto short_b = reservations_->Reserve(Cmd("o1", {{"b", 2}, {"a", 2}}));
  EXPECT_EQ(ErrorReason(short_b.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(short_b.status(), "sku_id"), "b");
  EXPECT_EQ(ErrorMetadata(short_b.status(), "available"), "1");
  // Catalog refusals come before stock ones.
  auto off_sale = reservations_->Reserve(Cmd("o2", {{"a", 5}, {"off", 1}}));
  EXPECT_EQ(ErrorReason(off_sale.status()), "SKU_OFF_SALE");
  EXPECT_EQ(ErrorMetadata(off_sale.status(), "sku_id"), "off");
  auto ghost = reservations_->Reserve(Cmd("o3", {{"a", 1}, {"ghost", 1}}));
  EXPECT_EQ(ghost.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorMetadata(ghost.status(), "sku_id"), "ghost");
  // A flash-sale SKU is not sold to a NORMAL order.
  auto wrong_kind = reservations_->Reserve(Cmd("o4", {{"fs", 1}}));
  EXPECT_EQ(ErrorReason(wrong_kind.status()), "FLASH_SALE_NOT_READY");
  EXPECT_EQ(Reservations(), 0);
  EXPECT_EQ(Outbox(), outbox);
  EXPECT_EQ(Level("a").available, 1);
}

TEST_F(ReservationTest, InvariantCheckReportsBrokenCounters) {
  AddSku(Sku("a"), 10);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("o1", {{"a", 2}})));
  auto clean = repo_->CheckInvariants({"a"});
  ORDERLY_ASSERT_OK(clean);
  EXPECT_TRUE(clean->violations.empty());
  EXPECT_EQ(clean->checked_sku_count, 1);
  Exec("UPDATE stock_buckets SET available = available + 1 WHERE sku_id = 'a'");
  auto broken = repo_->CheckInvariants({});
  ORDERLY_ASSERT_OK(broken);
  ASSERT_EQ(broken->violations.size(), 1u);
  EXPECT_EQ(broken->violations[0].invariant, "total_received_balance");
  Exec(
      "UPDATE stock_buckets SET available = available - 2, reserved = reserved + 1 "
      "WHERE sku_id = 'a'");
  auto wrong_reserved = repo_->CheckInvariants({"a"});
  ORDERLY_ASSERT_OK(wrong_reserved);
  ASSERT_EQ(wrong_reserved->violations.size(), 1u);
  EXPECT_EQ(wrong_reserved->violations[0].invariant, "reserved_matches_reservations");
  Exec(
      "UPDATE stock_buckets SET available = available + 1, reserved = reserved - 1 "
      "WHERE sku_id = 'a'");
  auto missing = repo_->CheckInvariants({"a", "ghost"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// After a one-line refusal with nothing left, the next one-line Reserve of that SKU is asked
// with one plain read (StockRepository::ShortOfStock) before inventory_reserve. The read only
// refuses what inventory_reserve would refuse at that moment: replays, tombstones, returned
// stock and catalog changes are still answered as before.
TEST_F(ReservationTest, SoldOutSkuIsAskedWithAPlainReadThatNeverRefusesWhatIsThere) {
  auto checks = [](const std::string& outcome) { return SoldOutChecks(outcome); };
  AddSku(Sku("so"), 2);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("so-w1", {{"so", 2}})));
  const double refused0 = checks("refused"), passed0 = checks("passed");
  auto first = reservations_->Reserve(Cmd("so-l1", {{"so", 1}}));  // inventory_reserve refuses
  EXPECT_EQ(ErrorReason(first.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(checks("refused"), refused0);
  const int64_t outbox = Outbox(), reservations = Reservations();

  auto second = reservations_->Reserve(Cmd("so-l2", {{"so", 1}}));  // the plain read refuses
  EXPECT_EQ(checks("refused"), refused0 + 1);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(second.status()), "INSUFFICIENT_STOCK");
  EXPECT_EQ(ErrorMetadata(second.status(), "sku_id"), "so");
  EXPECT_EQ(ErrorMetadata(second.status(), "requested"), "1");
  EXPECT_EQ(ErrorMetadata(second.status(), "available"), "0");

  // The winner's retry gets its reservation; other lines for it are a mismatch, not sold out.
  // (The read passes each of these to inventory_reserve.)
  auto replay = reservations_->Reserve(Cmd("so-w1", {{"so", 2}}));
  ORDERLY_ASSERT_OK(replay);
  EXPECT_EQ(replay->order_id, "so-w1");
  auto different = reservations_->Reserve(Cmd("so-w1", {{"so", 1}}));
  EXPECT_EQ(ErrorReason(different.status()), "REQUEST_FINGERPRINT_MISMATCH");
  // A Release that came first leaves a tombstone: the late Reserve is told so.
  ORDERLY_ASSERT_OK(reservations_->Release("so-t1", v1::RELEASE_REASON_ORDER_CANCELLED));
  auto late = reservations_->Reserve(Cmd("so-t1", {{"so", 1}}));
  EXPECT_EQ(ErrorReason(late.status()), "RESERVATION_RELEASED");
  EXPECT_EQ(Outbox(), outbox + 1);  // the tombstone's StockReleased only
  EXPECT_EQ(Reservations(), reservations + 1);
  EXPECT_EQ(checks("passed"), passed0 + 3);
  EXPECT_EQ(checks("refused"), refused0 + 1);

  // Stock back (a receipt, or a release): the read lets the order through at once.
  ORDERLY_ASSERT_OK(catalog_->ReceiveStock("so", 1, "so-more", "returned"));
  const double passed_before = checks("passed");
  auto after = reservations_->Reserve(Cmd("so-n1", {{"so", 1}}));
  ORDERLY_ASSERT_OK(after);
  EXPECT_GT(checks("passed"), passed0);
  EXPECT_EQ(checks("passed"), passed_before + 1);
  EXPECT_EQ(Level("so").reserved, 3);

  // Sold out again, then taken off sale: the catalog refusal wins, as in inventory_reserve.
  EXPECT_EQ(ErrorReason(reservations_->Reserve(Cmd("so-l3", {{"so", 1}})).status()),
            "INSUFFICIENT_STOCK");
  SkuRecord off = Sku("so");
  off.sale_status = v1::SKU_SALE_STATUS_OFF_SALE;
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(off));
  reservations_->InvalidateSku("so");
  const double refused_before = checks("refused");
  auto off_sale = reservations_->Reserve(Cmd("so-l4", {{"so", 1}}));
  EXPECT_EQ(ErrorReason(off_sale.status()), "SKU_OFF_SALE");
  EXPECT_EQ(checks("refused"), refused_before);
}

// On the async path (the gRPC handler) the reads of many orders of a sold-out SKU go as one
// statement per batch; each answer is still exactly inventory_reserve's for that order.
TEST_F(ReservationTest, AsyncSoldOutChecksInBatchesAnswerEachOrderExactly) {
  AddSku(Sku("bo", 4), 3);
  ORDERLY_ASSERT_OK(reservations_->Reserve(Cmd("bo-w1", {{"bo", 3}})));
  EXPECT_EQ(ErrorReason(reservations_->Reserve(Cmd("bo-l0", {{"bo", 1}})).status()),
            "INSUFFICIENT_STOCK");  // the SKU is now known to be sold out
  ORDERLY_ASSERT_OK(reservations_->Release("bo-t1", v1::RELEASE_REASON_ORDER_CANCELLED));
  const int64_t outbox = Outbox(), reservations = Reservations();
  const double refused0 = SoldOutChecks("refused"), passed0 = SoldOutChecks("passed");

  std::vector<ReserveCommand> cmds;
  for (int i = 0; i < 100; ++i) cmds.push_back(Cmd("bo-l" + std::to_string(i + 1), {{"bo", 1}}));
  cmds.push_back(Cmd("bo-w1", {{"bo", 3}}));  // 100: the winner's retry
  cmds.push_back(Cmd("bo-t1", {{"bo", 1}}));  // 101: released before it was reserved
  cmds.push_back(Cmd("bo-w1", {{"bo", 2}}));  // 102: the winner's order with other lines
  auto out = ReserveAllAsync(cmds);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(ErrorReason(out[i].status()), "INSUFFICIENT_STOCK") << i << " " << out[i].status();
    EXPECT_EQ(ErrorMetadata(out[i].status(), "sku_id"), "bo");
    EXPECT_EQ(ErrorMetadata(out[i].status(), "available"), "0");
  }
  ORDERLY_ASSERT_OK(out[100]);
  EXPECT_EQ(out[100]->order_id, "bo-w1");
  EXPECT_EQ(ErrorReason(out[101].status()), "RESERVATION_RELEASED");
  EXPECT_EQ(ErrorReason(out[102].status()), "REQUEST_FINGERPRINT_MISMATCH");
  EXPECT_EQ(SoldOutChecks("refused"), refused0 + 100);
  EXPECT_EQ(SoldOutChecks("passed"), passed0 + 3);
  EXPECT_EQ(Outbox(), outbox);
  EXPECT_EQ(Reservations(), reservations);

  // Two units come back: of five racing orders exactly two get them, none is refused wrongly.
  ORDERLY_ASSERT_OK(catalog_->ReceiveStock("bo", 2, "bo-more", "returned"));
  std::vector<ReserveCommand> late;
  for (int i = 0; i < 5; ++i) late.push_back(Cmd("bo-n" + std::to_string(i), {{"bo", 1}}));
  int ok = 0;
  for (const auto& r : ReserveAllAsync(late)) {
    if (r.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(ErrorReason(r.status()), "INSUFFICIENT_STOCK") << r.status();
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(Level("bo").reserved, 5);
  EXPECT_EQ(Level("bo").available, 0);
}

}  // namespace
}  // namespace orderly::inventory::testing
