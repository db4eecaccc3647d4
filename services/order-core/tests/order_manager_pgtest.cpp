// The order domain against real PostgreSQL and Redis (inventory faked in memory; the real one is
// exercised by order_service_itest): create and its idempotency, pricing with coupons and points,
// cancel, payment timeout, payment racing the timeout, paid-after-cancel, recovery of orphaned
// reservations, split orders, queries.
#include <gtest/gtest.h>

#include <thread>

#include "fake_inventory.hpp"
#include "order_core_lib_migrations.hpp"
#include "order_manager.hpp"
#include "order_timeouts.hpp"
#include "order_validation.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"
#include "pg_marketing_repository.hpp"
#include "pg_order_repository.hpp"
#include "pg_util.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace ev1 = ::orderly::events::v1;
using server::Caller;
using server::Role;
using std::chrono::minutes;
using std::chrono::seconds;

class OrderManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = orderly::testing::CreateTempDatabase("order_core");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(*db));
    pg::PoolOptions po;
    po.dsn = db_->dsn();
    po.size = 12;
    auto pool = pg::Pool::Create(po);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    ORDERLY_ASSERT_OK(pg::ApplyMigrations(
        *pool_, "order-core", events::WithEventSchema(pg::order_core_lib_migrations())));
    auto ro = orderly::testing::RedisOptionsFromEnv();
    ASSERT_TRUE(ro.ok()) << ro.status();
    auto redis = redis::Client::Create(*ro);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
    clock_ = std::make_shared<ManualClock>(std::chrono::system_clock::now());
    inventory_.AddSku("sku-a", 10000, 100);            // 100.00
    inventory_.AddSku("sku-b", 2550, 100);             // 25.50
    inventory_.AddSku("sku-c", 999, 100, "m2", "w7");  // another merchant
    OrderManagerOptions o;
    o.flows.normal_payment_window = minutes(30);
    manager_ = std::make_unique<OrderManager>(
        std::make_unique<PgOrderRepository>(*pool_, events::kOrderTopic),
        std::make_unique<PgMarketingRepository>(*pool_, seconds(5)), redis_.get(), inventory_,
        clock_, 1, o);
    TimeoutWorkerOptions to;
    to.intent_max_age = seconds(60);
    timeouts_ = std::make_unique<TimeoutWorker>(*manager_, to);
  }

  ov1::CreateOrderRequest Request(const std::string& buyer,
                                  std::vector<std::pair<std::string, int>> items) {
    ov1::CreateOrderRequest r;
    auto id = manager_->GenerateOrderId({buyer, Role::kBuyer}, buyer);
    EXPECT_TRUE(id.ok()) << id.status();
    r.set_order_id(*id);
    r.set_buyer_id(buyer);
    r.set_request_id(NewUuidV7());
    for (auto& [sku, q] : items) {
      auto* it = r.add_items();
      it->set_sku_id(sku);
      it->set_quantity(q);
    }
    auto* a = r.mutable_shipping_address();
    a->set_receiver_name("Han Meimei");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Hangzhou");
    a->set_detail("1 Wensan Road");
    return r;
  }

  absl::StatusOr<ov1::Order> Create(const ov1::CreateOrderRequest& r) {
    return manager_->CreateOrder({r.buyer_id(), Role::kBuyer}, r, {});
  }

  int64_t Count(const std::string& sql) {
    int64_t n = -1;
    EXPECT_TRUE(pool_
                    ->InTransaction([&](pqxx::transaction_base& tx) {
                      n = tx.exec(sql)[0][0].as<int64_t>();
                      return absl::OkStatus();
                    })
                    .ok());
    return n;
  }

  std::vector<std::string> OutboxTypes(const std::string& order_id) {
    std::vector<std::string> out;
    EXPECT_TRUE(pool_
                    ->InTransaction([&](pqxx::transaction_base& tx) {
                      for (const auto& r : tx.exec_params(
                               "SELECT event_type FROM outbox WHERE aggregate_id = $1 ORDER BY id",
                               order_id)) {
                        out.push_back(r[0].c_str());
                      }
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  ev1::EventEnvelope LastEvent(const std::string& order_id) {
    ev1::EventEnvelope e;
    EXPECT_TRUE(pool_
                    ->InTransaction([&](pqxx::transaction_base& tx) {
                      auto r = tx.exec_params(
                          "SELECT payload FROM outbox WHERE aggregate_id = $1 ORDER BY id DESC "
                          "LIMIT 1",
                          order_id);
                      pqxx::binarystring b(r[0][0]);
                      e.ParseFromArray(b.data(), static_cast<int>(b.size()));
                      return absl::OkStatus();
                    })
                    .ok());
    return e;
  }

  absl::Status Pay(const ov1::Order& o, const std::string& payment_id) {
    ev1::EventEnvelope e;
    e.set_event_id(NewUuidV7());
    auto* p = e.mutable_payment_succeeded();
    p->set_payment_id(payment_id);
    p->set_order_id(o.order_id());
    *p->mutable_amount() = o.price().payable_total();
    return manager_->repository().InTransaction([&](OrderTx& tx) {
      AfterCommit after;
      return manager_->HandleEvent(tx, e, &after);
    });
  }

  absl::Status Fulfillment(const std::string& order_id, int kind) {
    ev1::EventEnvelope e;
    e.set_event_id(NewUuidV7());
    if (kind == 0) {
      e.mutable_fulfillment_accepted()->set_order_id(order_id);
    } else if (kind == 1) {
      auto* s = e.mutable_shipment_shipped();
      s->set_order_id(order_id);
      s->set_kind(fulfillment::v1::SHIPMENT_KIND_ORDER);
      s->set_all_lines_shipped(true);
      s->set_shipment_id("sh-1");
    } else {
      auto* s = e.mutable_shipment_delivered();
      s->set_order_id(order_id);
      s->set_kind(fulfillment::v1::SHIPMENT_KIND_ORDER);
      s->set_all_shipments_delivered(true);
    }
    return manager_->repository().InTransaction([&](OrderTx& tx) {
      AfterCommit after;
      return manager_->HandleEvent(tx, e, &after);
    });
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  pg::PoolPtr pool_;
  redis::ClientPtr redis_;
  std::shared_ptr<ManualClock> clock_;
  testing::FakeInventory inventory_;
  std::unique_ptr<OrderManager> manager_;
  std::unique_ptr<TimeoutWorker> timeouts_;
};

TEST_F(OrderManagerTest, CreatesAPendingOrderWithEverythingInOneTransaction) {
  auto req = Request("buyer-1", {{"sku-a", 2}, {"sku-b", 1}});
  auto order = Create(req);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->order_id(), req.order_id());
  EXPECT_EQ(order->status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(order->buyer_status_view(), ov1::BUYER_ORDER_STATUS_TO_PAY);
  EXPECT_EQ(order->version(), 1);
  EXPECT_EQ(order->price().payable_total().amount_minor(), 22550);
  EXPECT_EQ(order->lines_size(), 2);
  EXPECT_EQ(FromProtoTimestamp(order->payment_deadline()) - FromProtoTimestamp(order->created_at()),
            std::chrono::duration_cast<TimePoint::duration>(minutes(30)));
  EXPECT_EQ(inventory_.Reserved("sku-a"), 2);
  EXPECT_EQ(OutboxTypes(req.order_id()),
            std::vector<std::string>{"orderly.events.v1.OrderCreated"});
  EXPECT_EQ(Count("SELECT count(*) FROM order_timers"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM create_intents"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM order_status_history"), 1);

  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, req.order_id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->lines(0).product_name(), "Product sku-a");
  EXPECT_EQ(got->lines(0).specs().at("colour"), "red");
  ASSERT_EQ(got->status_history_size(), 1);
  EXPECT_EQ(got->status_history(0).action(), "create");
  // Another buyer's order does not exist for this caller.
  auto other = manager_->GetOrder({"buyer-2", Role::kBuyer}, req.order_id());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(other.status()), "ORDER_NOT_FOUND");
}

TEST_F(OrderManagerTest, RepeatReturnsTheOriginalAndADifferentBodyIsRejected) {
  auto req = Request("buyer-1", {{"sku-a", 1}});
  auto first = Create(req);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = Create(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->order_id(), first->order_id());
  EXPECT_EQ(inventory_.Reserved("sku-a"), 1);

  // Layer 2: the ledger entry is gone (expired), the order id still answers.
  ORDERLY_ASSERT_OK(redis_->Del(redis_->Key("create:buyer-1:" + req.request_id())));
  auto replay = Create(req);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->order_id(), first->order_id());

  // Same order id, different body.
  auto changed = req;
  changed.mutable_items(0)->set_quantity(2);
  changed.set_request_id(NewUuidV7());
  auto mismatch = Create(changed);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(mismatch.status()), "REQUEST_FINGERPRINT_MISMATCH");

  // Same request id, different order id (layer 1, then layer 3 once Redis forgot it).
  auto other = Request("buyer-1", {{"sku-a", 1}});
  other.set_request_id(req.request_id());
  EXPECT_EQ(Create(other).status().code(), absl::StatusCode::kAlreadyExists);
  ORDERLY_ASSERT_OK(redis_->Del(redis_->Key("create:buyer-1:" + req.request_id())));
  auto layer3 = Create(other);
  EXPECT_EQ(layer3.status().code(), absl::StatusCode::kAlreadyExists) << layer3.status();
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 1);
  // The refused second order gave its reservation back.
  EXPECT_EQ(inventory_.Reserved("sku-a"), 1);
  EXPECT_TRUE(inventory_.Conserved());
}

// Redis can lose the "done" write that follows a committed create (appendfsync everysec, a
// crash), leaving the request key pending. A resend must get the committed order, not wait and
// fail IDEMPOTENCY_IN_PROGRESS until the key expires.
TEST_F(OrderManagerTest, APendingKeyLeftByALostRedisWriteReplaysTheCommittedOrder) {
  auto req = Request("buyer-1", {{"sku-a", 1}});
  const int64_t claimed_at = ToUnixMillis(clock_->Now());
  auto first = Create(req);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string key = redis_->Key("create:buyer-1:" + req.request_id());
  auto done = redis_->Get(key);
  ASSERT_TRUE(done.ok() && done->has_value());
  ASSERT_EQ((**done).substr(0, 2), "D|");
  const std::string value = (**done).substr(2);
  auto resend = [&](const std::string& pending) -> absl::StatusOr<ov1::Order> {
    EXPECT_TRUE(redis_->Set(key, pending, minutes(5)).ok());
    return Create(req);
  };
  auto elapsed_ms = [](auto since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 since)
        .count();
  };

  // The pending entry as the claim wrote it, older than any request can run: the database
  // answers at once.
  clock_->Advance(seconds(31));
  auto t0 = std::chrono::steady_clock::now();
  auto replay = resend("Q|" + std::to_string(claimed_at) + "|" + value);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->order_id(), first->order_id());
  EXPECT_LT(elapsed_ms(t0), 1000);
  // ... and the key says done again.
  EXPECT_EQ((**redis_->Get(key)).substr(0, 2), "D|");

  // A pending entry from before claim times were recorded ("P|<value>"): the same.
  t0 = std::chrono::steady_clock::now();
  replay = resend("P|" + value);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->order_id(), first->order_id());
  EXPECT_LT(elapsed_ms(t0), 1000);

  // Pending since a moment ago (the write was lost right after the commit): after waiting out
  // the duplicate window the committed order is answered, not IDEMPOTENCY_IN_PROGRESS.
  replay = resend("Q|" + std::to_string(ToUnixMillis(clock_->Now())) + "|" + value);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->order_id(), first->order_id());
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 1);
  EXPECT_EQ(inventory_.Reserved("sku-a"), 1);

  // A leftover pending key of a request that died before its order committed: the resend
  // creates the order instead of waiting for a request that will never finish.
  auto fresh = Request("buyer-1", {{"sku-b", 1}});
  const std::string fresh_key = redis_->Key("create:buyer-1:" + fresh.request_id());
  ASSERT_TRUE(redis_
                  ->Set(fresh_key,
                        "Q|" + std::to_string(claimed_at) + "|" + fresh.order_id() + "|" +
                            RequestFingerprint(fresh),
                        minutes(5))
                  .ok());
  t0 = std::chrono::steady_clock::now();
  auto created = Create(fresh);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->order_id(), fresh.order_id());
  EXPECT_LT(elapsed_ms(t0), 1000);
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 2);
  // A pending entry of another body is still another request.
  auto other = Request("buyer-1", {{"sku-b", 2}});
  other.set_request_id(fresh.request_id());
  ASSERT_TRUE(redis_
                  ->Set(fresh_key,
                        "Q|" + std::to_string(claimed_at) + "|" + fresh.order_id() + "|" +
                            RequestFingerprint(fresh),
                        minutes(5))
                  .ok());
  EXPECT_EQ(ErrorReason(Create(other).status()), "REQUEST_FINGERPRINT_MISMATCH");
}

TEST_F(OrderManagerTest, ConcurrentDuplicatesCreateExactlyOneOrder) {
  auto req = Request("buyer-1", {{"sku-b", 3}});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> ids(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = Create(req);
      if (r.ok()) {
        ++ok;
        ids[i] = r->order_id();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  for (const auto& id : ids) EXPECT_EQ(id, req.order_id());
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 1);
  EXPECT_EQ(inventory_.Reserved("sku-b"), 3);

  // Without the Redis layer too: the primary key decides.
  auto req2 = Request("buyer-1", {{"sku-b", 2}});
  OrderManager no_redis(std::make_unique<PgOrderRepository>(*pool_, events::kOrderTopic),
                        std::make_unique<PgMarketingRepository>(*pool_, seconds(5)), nullptr,
                        inventory_, clock_, 2);
  threads.clear();
  std::atomic<int> ok2{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (no_redis.CreateOrder({"buyer-1", Role::kBuyer}, req2, {}).ok()) ++ok2;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok2.load(), 8);
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 2);
  EXPECT_EQ(inventory_.Reserved("sku-b"), 5);
  EXPECT_TRUE(inventory_.Conserved());
}

TEST_F(OrderManagerTest, BadInputWritesAndReservesNothing) {
  auto bad = Request("buyer-1", {{"sku-a", 0}});
  auto s = Create(bad);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inventory_.get_calls.load(), 0);

  auto foreign = Request("buyer-1", {{"sku-a", 1}});
  foreign.set_buyer_id("buyer-2");
  EXPECT_EQ(manager_->CreateOrder({"buyer-1", Role::kBuyer}, foreign, {}).status().code(),
            absl::StatusCode::kPermissionDenied);

  MarketingRepository::CouponSpec c;
  c.coupon_id = "cp-other";
  c.owner_id = "buyer-2";
  c.amount_off = 500;
  ORDERLY_ASSERT_OK(manager_->marketing().UpsertCoupon(c));
  auto coupon = Request("buyer-1", {{"sku-a", 1}});
  coupon.add_coupon_ids("cp-other");
  coupon.add_coupon_ids("cp-unknown");
  coupon.set_points_to_use(10);
  auto cs = Create(coupon);
  EXPECT_EQ(cs.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& v : ErrorFieldViolations(cs.status())) fields.insert(v.field);
  EXPECT_EQ(fields, (std::set<std::string>{"coupon_ids[0]", "coupon_ids[1]", "points_to_use"}));

  inventory_.SetOffSale("sku-b");
  auto off = Create(Request("buyer-1", {{"sku-b", 1}}));
  EXPECT_EQ(ErrorReason(off.status()), "SKU_OFF_SALE");
  auto unknown = Create(Request("buyer-1", {{"nope", 1}}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);

  auto wrong_id = Request("buyer-1", {{"sku-a", 1}});
  wrong_id.set_order_id(*manager_->GenerateOrderId({"x", Role::kAdmin}, "someone-else"));
  EXPECT_EQ(ErrorReason(Create(wrong_id).status()), "ORDER_ID_INVALID");

  EXPECT_EQ(inventory_.reserve_calls.load(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM create_intents"), 0);
}

TEST_F(OrderManagerTest, PriceChangedCarriesTheNewBreakdown) {
  auto req = Request("buyer-1", {{"sku-a", 1}});
  req.mutable_expected_total()->set_amount_minor(9000);
  req.mutable_expected_total()->set_currency_code("CNY");
  auto r = Create(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(r.status()), "PRICE_CHANGED");
  EXPECT_EQ(ErrorMetadata(r.status(), "actual_total"), "10000");
  EXPECT_EQ(ErrorMetadata(r.status(), "items_total"), "10000");
  EXPECT_EQ(inventory_.reserve_calls.load(), 0);
  req.mutable_expected_total()->set_amount_minor(10000);
  EXPECT_TRUE(Create(req).ok());
}

TEST_F(OrderManagerTest, PromotionsMemberCouponPointsAreExactAndFrozenThenReturned) {
  MarketingRepository::PromotionSpec p;
  p.promotion_id = "full-200-30";
  p.threshold = 20000;
  p.off_amount = 3000;
  p.description = "30 off 200";
  ORDERLY_ASSERT_OK(manager_->marketing().UpsertPromotion(p));
  ORDERLY_ASSERT_OK(manager_->marketing().SetMemberTier("gold", 200));
  ORDERLY_ASSERT_OK(manager_->marketing().SetBuyerTier("buyer-1", "gold"));
  MarketingRepository::CouponSpec c;
  c.coupon_id = "cp-1";
  c.owner_id = "buyer-1";
  c.amount_off = 1000;
  ORDERLY_ASSERT_OK(manager_->marketing().UpsertCoupon(c));
  ORDERLY_ASSERT_OK(manager_->marketing().SetPoints("buyer-1", 500));

  auto req = Request("buyer-1", {{"sku-a", 2}, {"sku-b", 1}});  // 225.50
  req.add_coupon_ids("cp-1");
  req.set_points_to_use(300);  // 100 points = 1.00 CNY
  auto o = Create(req);
  ASSERT_TRUE(o.ok()) << o.status();
  const auto& pr = o->price();
  // 22550 - 3000 = 19550; member 2% = 391 -> 19159; coupon 1000 -> 18159; points 300 -> 17859.
  EXPECT_EQ(pr.items_total().amount_minor(), 22550);
  EXPECT_EQ(pr.activity_discount().amount_minor(), 3000);
  EXPECT_EQ(pr.member_discount().amount_minor(), 391);
  EXPECT_EQ(pr.coupon_discount().amount_minor(), 1000);
  EXPECT_EQ(pr.points_discount().amount_minor(), 300);
  EXPECT_EQ(pr.points_used(), 300);
  EXPECT_EQ(pr.payable_total().amount_minor(), 17859);
  int64_t finals = 0;
  for (const auto& l : o->lines()) finals += l.final_amount().amount_minor();
  EXPECT_EQ(finals, 17859);
  // Stored per line (and per discount allocation) for partial refunds.
  EXPECT_EQ(Count("SELECT sum(final_amount) FROM order_lines"), 17859);
  EXPECT_EQ(Count("SELECT sum(amount) FROM order_discount_allocations"), 3000 + 391 + 1000 + 300);
  EXPECT_EQ(*manager_->marketing().CouponState("cp-1"), "frozen");
  EXPECT_EQ(manager_->marketing().Points("buyer-1")->balance, 200);
  EXPECT_EQ(manager_->marketing().Points("buyer-1")->frozen, 300);

  // The same coupon cannot go on a second order while frozen.
  auto second = Request("buyer-1", {{"sku-a", 1}});
  second.add_coupon_ids("cp-1");
  EXPECT_EQ(ErrorReason(Create(second).status()), "COUPON_NOT_USABLE");

  auto cancelled = manager_->CancelOrder({"buyer-1", Role::kBuyer},
                                         [&] {
                                           ov1::CancelOrderRequest r;
                                           r.set_order_id(o->order_id());
                                           r.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
                                           return r;
                                         }(),
                                         {});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*manager_->marketing().CouponState("cp-1"), "available");
  EXPECT_EQ(manager_->marketing().Points("buyer-1")->balance, 500);
  EXPECT_EQ(manager_->marketing().Points("buyer-1")->frozen, 0);
}

TEST_F(OrderManagerTest, BuyerCancelReleasesExactlyThisOrder) {
  auto a = Create(Request("buyer-1", {{"sku-a", 3}}));
  auto b = Create(Request("buyer-1", {{"sku-a", 4}}));
  ASSERT_TRUE(a.ok() && b.ok());
  ov1::CancelOrderRequest cr;
  cr.set_order_id(a->order_id());
  // UNSPECIFIED is never a valid input: the caller says why (issue 12.5).
  auto unspecified = manager_->CancelOrder({"buyer-1", Role::kBuyer}, cr, {});
  EXPECT_EQ(unspecified.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(ErrorFieldViolations(unspecified.status()).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(unspecified.status())[0].field, "reason");
  cr.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
  // Someone else's cancel is NOT_FOUND; a stale version is ABORTED.
  EXPECT_EQ(manager_->CancelOrder({"buyer-2", Role::kBuyer}, cr, {}).status().code(),
            absl::StatusCode::kNotFound);
  cr.set_expected_version(7);
  EXPECT_EQ(ErrorReason(manager_->CancelOrder({"buyer-1", Role::kBuyer}, cr, {}).status()),
            "STALE_VERSION");
  cr.set_expected_version(1);
  auto done = manager_->CancelOrder({"buyer-1", Role::kBuyer}, cr, {});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(done->cancel_reason(), ov1::CANCEL_REASON_BUYER_REQUESTED);
  EXPECT_EQ(done->version(), 2);
  EXPECT_EQ(inventory_.State(a->order_id()), "released");
  EXPECT_EQ(inventory_.State(b->order_id()), "reserved");
  EXPECT_EQ(inventory_.Reserved("sku-a"), 4);
  EXPECT_TRUE(inventory_.Conserved());
  // Idempotent.
  cr.clear_expected_version();
  EXPECT_TRUE(manager_->CancelOrder({"buyer-1", Role::kBuyer}, cr, {}).ok());
  EXPECT_EQ(OutboxTypes(a->order_id()),
            (std::vector<std::string>{"orderly.events.v1.OrderCreated",
                                      "orderly.events.v1.OrderCancelled"}));
  // A paid order is not the buyer's to cancel.
  ORDERLY_ASSERT_OK(Pay(*b, "pay-1"));
  ov1::CancelOrderRequest cb;
  cb.set_order_id(b->order_id());
  cb.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
  auto refused = manager_->CancelOrder({"buyer-1", Role::kBuyer}, cb, {});
  // As the contract says: FAILED_PRECONDITION ORDER_NOT_CANCELLABLE (it was PERMISSION_DENIED
  // ACTOR_NOT_ALLOWED, a reason that is not in orderly.common.v1.ErrorReason).
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(refused.status()), "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(ErrorMetadata(refused.status(), "current_status"), "PAID");
  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, b->order_id());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_PAID);
}

TEST_F(OrderManagerTest, TimerCancelsAfterTheDeadlineAndTheSweepBacksItUp) {
  auto a = Create(Request("buyer-1", {{"sku-a", 1}}));
  auto b = Create(Request("buyer-1", {{"sku-b", 2}}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 0);  // not due
  clock_->Advance(minutes(29));
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 0);
  // b lost its timer (say, an old row or an operator mistake): the sweep catches it.
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    tx.exec_params("DELETE FROM order_timers WHERE order_id = $1", b->order_id());
    return absl::OkStatus();
  }));
  clock_->Advance(minutes(1) + seconds(1));
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 1);
  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, a->order_id());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(got->cancel_reason(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT);
  EXPECT_EQ(got->status_history(1).action(), "timeout");
  EXPECT_EQ(got->status_history(1).actor().role(), common::v1::ROLE_SYSTEM);
  EXPECT_EQ(*timeouts_->RunSweepOnce(), 1);
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, b->order_id())->status(),
            ov1::ORDER_STATUS_CANCELLED);
  // Both again: nothing left to do.
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 0);
  EXPECT_EQ(*timeouts_->RunSweepOnce(), 0);
  EXPECT_EQ(inventory_.Reserved("sku-a") + inventory_.Reserved("sku-b"), 0);
  EXPECT_TRUE(inventory_.Conserved());
}

TEST_F(OrderManagerTest, PaymentRacingTheTimeout) {
  // Payment first: the timer finds a paid order and leaves it.
  auto a = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(a.ok());
  clock_->Advance(minutes(31));
  ORDERLY_ASSERT_OK(Pay(*a, "pay-a"));
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 0);
  EXPECT_EQ(*timeouts_->RunSweepOnce(), 0);
  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, a->order_id());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_PAID);
  EXPECT_EQ(got->payment_id(), "pay-a");
  // Past the deadline the payment is a sale only once inventory confirmed the stock.
  EXPECT_EQ(inventory_.State(a->order_id()), "confirmed");
  // A redelivered payment changes nothing; a second payment is refunded.
  ORDERLY_ASSERT_OK(Pay(*a, "pay-a"));
  ORDERLY_ASSERT_OK(Pay(*a, "pay-a2"));
  auto dup = LastEvent(a->order_id());
  ASSERT_TRUE(dup.has_order_refund_requested());
  EXPECT_EQ(dup.order_refund_requested().reason(), payment::v1::REFUND_REASON_DUPLICATE_PAYMENT);

  // Timeout first: the late payment is refunded and the order stays cancelled.
  auto b = Create(Request("buyer-1", {{"sku-b", 1}}));
  ASSERT_TRUE(b.ok());
  clock_->Advance(minutes(31));
  EXPECT_EQ(*timeouts_->RunTimersOnce(), 1);
  ORDERLY_ASSERT_OK(Pay(*b, "pay-b"));
  got = manager_->GetOrder({"buyer-1", Role::kBuyer}, b->order_id());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_CANCELLED);
  auto refund = LastEvent(b->order_id());
  ASSERT_TRUE(refund.has_order_refund_requested());
  EXPECT_EQ(refund.order_refund_requested().reason(), payment::v1::REFUND_REASON_PAID_AFTER_CANCEL);
  EXPECT_EQ(refund.order_refund_requested().payment_id(), "pay-b");
  EXPECT_EQ(refund.order_refund_requested().amount().amount_minor(), 2550);
  EXPECT_EQ(refund.order_refund_requested().refund_request_id(),
            "order:" + b->order_id() + ":paid-after-cancel:pay-b");
  EXPECT_EQ(inventory_.State(b->order_id()), "released");

  // Concurrent: the scheduler and the payment at the same instant; exactly one wins.
  for (int round = 0; round < 5; ++round) {
    auto c = Create(Request("buyer-1", {{"sku-a", 1}}));
    ASSERT_TRUE(c.ok());
    clock_->Advance(minutes(31));
    std::thread payer([&] { (void)Pay(*c, "pay-c" + std::to_string(round)); });
    std::thread timer([&] { (void)timeouts_->RunTimersOnce(); });
    payer.join();
    timer.join();
    auto final = manager_->GetOrder({"buyer-1", Role::kBuyer}, c->order_id());
    auto types = OutboxTypes(c->order_id());
    if (final->status() == ov1::ORDER_STATUS_PAID) {
      EXPECT_EQ(types.back(), "orderly.events.v1.OrderPaid");
    } else {
      ASSERT_EQ(final->status(), ov1::ORDER_STATUS_CANCELLED);
      EXPECT_EQ(types.back(), "orderly.events.v1.OrderRefundRequested");
    }
  }
  EXPECT_TRUE(inventory_.Conserved());
}

// The expiry race of issue 12: payment timeouts run late (a backlog, order-core down past the
// grace), the hold lapses and its units go to someone else, then the payment arrives for the
// still-PENDING order. It is handled as a payment after cancel unless inventory confirms now.
TEST_F(OrderManagerTest, LatePaymentIsASaleOnlyIfInventoryConfirmsTheStock) {
  auto lapsed = Create(Request("buyer-1", {{"sku-b", 2}}));
  ASSERT_TRUE(lapsed.ok()) << lapsed.status();
  clock_->Advance(minutes(36));
  inventory_.Expire(lapsed->order_id());  // the inventory sweeper ran; the timeout did not
  const int confirms = inventory_.confirm_calls.load();
  ORDERLY_ASSERT_OK(Pay(*lapsed, "pay-late"));
  EXPECT_EQ(inventory_.confirm_calls.load(), confirms + 1);
  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, lapsed->order_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(got->cancel_reason(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT);
  EXPECT_EQ(got->payment_id(), "");
  auto types = OutboxTypes(lapsed->order_id());
  ASSERT_GE(types.size(), 2u);
  EXPECT_EQ(types[types.size() - 2], "orderly.events.v1.OrderCancelled");
  auto refund = LastEvent(lapsed->order_id());
  ASSERT_TRUE(refund.has_order_refund_requested());
  EXPECT_EQ(refund.order_refund_requested().reason(), payment::v1::REFUND_REASON_PAID_AFTER_CANCEL);
  EXPECT_EQ(refund.order_refund_requested().payment_id(), "pay-late");
  EXPECT_EQ(refund.order_refund_requested().amount().amount_minor(), 5100);
  // Redelivered: refunded once more under the same refund request id (payment dedupes by it).
  ORDERLY_ASSERT_OK(Pay(*lapsed, "pay-late"));
  EXPECT_EQ(LastEvent(lapsed->order_id()).order_refund_requested().refund_request_id(),
            refund.order_refund_requested().refund_request_id());
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, lapsed->order_id())->status(),
            ov1::ORDER_STATUS_CANCELLED);

  // Inventory unreachable: nothing is decided, the event is retried.
  auto held = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(held.ok());
  clock_->Advance(minutes(31));
  inventory_.FailConfirm(absl::UnavailableError("inventory down"));
  EXPECT_EQ(Pay(*held, "pay-held").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, held->order_id())->status(),
            ov1::ORDER_STATUS_PENDING_PAYMENT);
  // Back, with the hold still there: confirmed, so the late payment is a sale.
  inventory_.FailConfirm(absl::OkStatus());
  ORDERLY_ASSERT_OK(Pay(*held, "pay-held"));
  got = manager_->GetOrder({"buyer-1", Role::kBuyer}, held->order_id());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_PAID);
  EXPECT_EQ(inventory_.State(held->order_id()), "confirmed");
  EXPECT_EQ(inventory_.Sold("sku-a"), 1);

  // On time: no inventory call in the payment's path (inventory confirms on OrderPaid).
  auto on_time = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(on_time.ok());
  const int before = inventory_.confirm_calls.load();
  ORDERLY_ASSERT_OK(Pay(*on_time, "pay-on-time"));
  EXPECT_EQ(inventory_.confirm_calls.load(), before);
  EXPECT_TRUE(inventory_.Conserved());
}

// The release race of issue 12: inventory could not back a paid order with stock and said so
// (StockConfirmRefused). The order is cancelled as OUT_OF_STOCK and refunded in full, visibly.
TEST_F(OrderManagerTest, StockRefusalCancelsAPaidOrderAndRefundsItInFull) {
  auto refuse = [&](const std::string& order_id) {
    ev1::EventEnvelope e;
    e.set_event_id(NewUuidV7());
    e.set_event_type("orderly.events.v1.StockConfirmRefused");
    auto* r = e.mutable_stock_confirm_refused();
    r->set_order_id(order_id);
    r->set_reason("INSUFFICIENT_STOCK");
    r->set_sku_id("sku-a");
    r->set_requested(1);
    r->set_available(0);
    return manager_->repository().InTransaction([&](OrderTx& tx) {
      AfterCommit after;
      return manager_->HandleEvent(tx, e, &after);
    });
  };
  auto refusals = [](const std::string& outcome) {
    return metrics::Registry::Default()
        .GetCounter("orderly_order_stock_refusals_total", "", {{"outcome", outcome}})
        .Value();
  };
  const double cancelled_before = refusals("cancelled_refunded");
  auto o = Create(Request("buyer-1", {{"sku-a", 1}, {"sku-b", 2}}));
  ASSERT_TRUE(o.ok()) << o.status();
  ORDERLY_ASSERT_OK(Pay(*o, "pay-1"));
  ORDERLY_ASSERT_OK(refuse(o->order_id()));
  auto got = manager_->GetOrder({"buyer-1", Role::kBuyer}, o->order_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(got->cancel_reason(), ov1::CANCEL_REASON_OUT_OF_STOCK);
  EXPECT_NE(got->cancel_reason_text().find("sku-a"), std::string::npos);
  const auto& last = got->status_history(got->status_history_size() - 1);
  EXPECT_EQ(last.action(), "out_of_stock");
  EXPECT_EQ(last.from_status(), ov1::ORDER_STATUS_PAID);
  EXPECT_EQ(last.actor().role(), common::v1::ROLE_SYSTEM);
  auto types = OutboxTypes(o->order_id());
  ASSERT_GE(types.size(), 2u);
  EXPECT_EQ(types[types.size() - 2], "orderly.events.v1.OrderCancelled");
  auto refund = LastEvent(o->order_id());
  ASSERT_TRUE(refund.has_order_refund_requested());
  EXPECT_EQ(refund.order_refund_requested().reason(), payment::v1::REFUND_REASON_OUT_OF_STOCK);
  EXPECT_EQ(refund.order_refund_requested().payment_id(), "pay-1");
  EXPECT_EQ(refund.order_refund_requested().amount().amount_minor(),
            o->price().payable_total().amount_minor());
  EXPECT_EQ(refusals("cancelled_refunded") - cancelled_before, 1);
  // Redelivered (or refused again): nothing more happens.
  const size_t events = OutboxTypes(o->order_id()).size();
  ORDERLY_ASSERT_OK(refuse(o->order_id()));
  EXPECT_EQ(OutboxTypes(o->order_id()).size(), events);

  // A split order: the refusal names the parent (the reservation's order); every child goes too.
  auto parent = Create(Request("buyer-1", {{"sku-a", 1}, {"sku-c", 2}}));
  ASSERT_TRUE(parent.ok()) << parent.status();
  ORDERLY_ASSERT_OK(Pay(*parent, "pay-split"));
  ORDERLY_ASSERT_OK(Fulfillment(parent->child_order_ids(0), 0));  // one child accepted already
  ORDERLY_ASSERT_OK(refuse(parent->order_id()));
  for (const auto& child : parent->child_order_ids()) {
    auto c = manager_->GetOrder({"buyer-1", Role::kBuyer}, child);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->status(), ov1::ORDER_STATUS_CANCELLED) << child;
    EXPECT_EQ(c->cancel_reason(), ov1::CANCEL_REASON_OUT_OF_STOCK);
  }
  auto split_refund = LastEvent(parent->order_id());
  ASSERT_TRUE(split_refund.has_order_refund_requested());
  EXPECT_EQ(split_refund.order_refund_requested().amount().amount_minor(),
            parent->price().payable_total().amount_minor());
}

TEST_F(OrderManagerTest, RecoveryReleasesAReservationWhoseOrderNeverCommitted) {
  // The process died between Reserve and the order transaction: an intent and a reservation,
  // no order.
  auto req = Request("buyer-1", {{"sku-a", 5}});
  uint64_t id = 0;
  ParseId(req.order_id(), &id);
  ORDERLY_ASSERT_OK(
      manager_->repository().InsertIntent(static_cast<int64_t>(id), "buyer-1", clock_->Now()));
  inventory::v1::ReserveRequest rr;
  rr.set_order_id(req.order_id());
  auto* it = rr.add_items();
  it->set_sku_id("sku-a");
  it->set_quantity(5);
  ORDERLY_ASSERT_OK(inventory_.Reserve(rr, {}));
  // A committed order's intent is simply dropped.
  auto live = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*timeouts_->RunRecoveryOnce(), 0);  // too young
  clock_->Advance(seconds(61));
  EXPECT_EQ(*timeouts_->RunRecoveryOnce(), 1);
  EXPECT_EQ(inventory_.State(req.order_id()), "released");
  EXPECT_EQ(inventory_.State(live->order_id()), "reserved");
  EXPECT_EQ(inventory_.Reserved("sku-a"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM create_intents"), 0);
  // A retry of the crashed create now fails instead of taking stock again.
  EXPECT_EQ(ErrorReason(Create(req).status()), "RESERVATION_RELEASED");
  EXPECT_TRUE(inventory_.Conserved());
}

TEST_F(OrderManagerTest, SplitOrderPaysAsOneAndFulfilsPerChild) {
  auto req = Request("buyer-1", {{"sku-a", 1}, {"sku-c", 2}});
  auto parent = Create(req);
  ASSERT_TRUE(parent.ok()) << parent.status();
  ASSERT_EQ(parent->child_order_ids_size(), 2);
  EXPECT_EQ(parent->merchant_id(), "");
  const std::string c1 = parent->child_order_ids(0), c2 = parent->child_order_ids(1);
  auto child = manager_->GetOrder({"m2", Role::kMerchant}, c2);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(child->parent_order_id(), parent->order_id());
  EXPECT_EQ(child->lines_size(), 1);
  EXPECT_EQ(manager_->GetOrder({"m2", Role::kMerchant}, c1).status().code(),
            absl::StatusCode::kNotFound);

  ORDERLY_ASSERT_OK(Pay(*parent, "pay-split"));
  EXPECT_EQ(manager_->GetOrder({"m1", Role::kMerchant}, c1)->status(), ov1::ORDER_STATUS_PAID);
  EXPECT_EQ(OutboxTypes(c1).back(), "orderly.events.v1.OrderPaid");
  ORDERLY_ASSERT_OK(Fulfillment(c1, 0));
  ORDERLY_ASSERT_OK(Fulfillment(c1, 1));
  ORDERLY_ASSERT_OK(Fulfillment(c1, 1));  // redelivery is harmless
  ORDERLY_ASSERT_OK(Fulfillment(c2, 0));
  // The parent shows the least advanced child.
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, parent->order_id())->status(),
            ov1::ORDER_STATUS_AWAITING_SHIPMENT);
  ORDERLY_ASSERT_OK(Fulfillment(c2, 1));
  ORDERLY_ASSERT_OK(Fulfillment(c2, 2));
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, parent->order_id())->status(),
            ov1::ORDER_STATUS_SHIPPED);
  // Address is frozen once shipped.
  ov1::ChangeShippingAddressRequest ar;
  ar.set_order_id(c2);
  *ar.mutable_shipping_address() = req.shipping_address();
  ar.mutable_shipping_address()->set_city("Ningbo");
  ar.set_expected_version(manager_->GetOrder({"buyer-1", Role::kBuyer}, c2)->version());
  EXPECT_EQ(ErrorReason(manager_->ChangeShippingAddress({"buyer-1", Role::kBuyer}, ar).status()),
            "ADDRESS_NOT_CHANGEABLE");
  ov1::ConfirmReceiptRequest cr;
  cr.set_order_id(parent->order_id());
  auto confirmed = manager_->ConfirmReceipt({"buyer-1", Role::kBuyer}, cr);
  ASSERT_TRUE(confirmed.ok()) << confirmed.status();
  EXPECT_EQ(confirmed->status(), ov1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, c1)->status(),
            ov1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(OutboxTypes(c1).back(), "orderly.events.v1.OrderCompleted");
}

TEST_F(OrderManagerTest, ChangeAddressChecksTheVersionAndConfirmNeedsDelivery) {
  auto o = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(o.ok());
  ov1::ChangeShippingAddressRequest ar;
  ar.set_order_id(o->order_id());
  *ar.mutable_shipping_address() = o->shipping_address();
  ar.mutable_shipping_address()->set_city("Suzhou");
  ar.set_expected_version(5);
  EXPECT_EQ(ErrorReason(manager_->ChangeShippingAddress({"buyer-1", Role::kBuyer}, ar).status()),
            "STALE_VERSION");
  ar.set_expected_version(1);
  auto changed = manager_->ChangeShippingAddress({"buyer-1", Role::kBuyer}, ar);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->shipping_address().city(), "Suzhou");
  EXPECT_EQ(changed->version(), 2);
  EXPECT_EQ(changed->status_history(1).action(), "change_address");
  // A retry of the same change answers with the current order.
  EXPECT_TRUE(manager_->ChangeShippingAddress({"buyer-1", Role::kBuyer}, ar).ok());
  EXPECT_EQ(OutboxTypes(o->order_id()).back(), "orderly.events.v1.OrderAddressChanged");

  ov1::ConfirmReceiptRequest cr;
  cr.set_order_id(o->order_id());
  auto early = manager_->ConfirmReceipt({"buyer-1", Role::kBuyer}, cr);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(early.status()), "ILLEGAL_TRANSITION");
  EXPECT_EQ(ErrorMetadata(early.status(), "current_status"), "PENDING_PAYMENT");
}

TEST_F(OrderManagerTest, ListsNewestFirstWithFiltersAndKeysetPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_->Advance(seconds(1));
    auto o = Create(Request("buyer-1", {{i % 2 ? "sku-a" : "sku-b", 1}}));
    ASSERT_TRUE(o.ok());
    ids.push_back(o->order_id());
  }
  ASSERT_TRUE(Create(Request("buyer-2", {{"sku-a", 1}})).ok());
  ov1::ListOrdersRequest lr;
  lr.set_view(ov1::ORDER_LIST_VIEW_BUYER);
  lr.set_page_size(2);
  std::vector<std::string> seen;
  std::string token;
  do {
    lr.set_page_token(token);
    auto page = manager_->ListOrders({"buyer-1", Role::kBuyer}, lr);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& o : page->orders()) seen.push_back(o.order_id());
    token = page->next_page_token();
  } while (!token.empty());
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));

  lr.clear_page_token();
  lr.set_page_size(0);
  lr.set_sku_id("sku-a");
  EXPECT_EQ(manager_->ListOrders({"buyer-1", Role::kBuyer}, lr)->orders_size(), 2);
  lr.clear_sku_id();
  lr.mutable_min_payable_total()->set_amount_minor(5000);
  EXPECT_EQ(manager_->ListOrders({"buyer-1", Role::kBuyer}, lr)->orders_size(), 2);
  lr.clear_min_payable_total();
  lr.add_statuses(ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(manager_->ListOrders({"buyer-1", Role::kBuyer}, lr)->orders_size(), 0);

  ov1::ListOrdersRequest bad;
  bad.set_view(ov1::ORDER_LIST_VIEW_BUYER);
  bad.set_page_token("garbage");
  EXPECT_EQ(ErrorReason(manager_->ListOrders({"buyer-1", Role::kBuyer}, bad).status()),
            "INVALID_PAGE_TOKEN");
  bad.set_view(ov1::ORDER_LIST_VIEW_ADMIN);
  bad.clear_page_token();
  EXPECT_EQ(manager_->ListOrders({"buyer-1", Role::kBuyer}, bad).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(manager_->ListOrders({"root", Role::kAdmin}, bad)->orders_size(), 6);
  bad.set_buyer_id("buyer-2");
  EXPECT_EQ(manager_->ListOrders({"root", Role::kAdmin}, bad)->orders_size(), 1);
  ov1::ListOrdersRequest merchant;
  merchant.set_view(ov1::ORDER_LIST_VIEW_MERCHANT);
  EXPECT_EQ(manager_->ListOrders({"m1", Role::kMerchant}, merchant)->orders_size(), 6);
  EXPECT_EQ(manager_->ListOrders({"m2", Role::kMerchant}, merchant)->orders_size(), 0);
}

TEST_F(OrderManagerTest, CacheNeverServesAStatusOlderThanTheLastWrite) {
  auto o = Create(Request("buyer-1", {{"sku-a", 1}}));
  ASSERT_TRUE(o.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, o->order_id())->status(),
              ov1::ORDER_STATUS_PENDING_PAYMENT);
  }
  ov1::CancelOrderRequest cr;
  cr.set_order_id(o->order_id());
  cr.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
  ASSERT_TRUE(manager_->CancelOrder({"buyer-1", Role::kBuyer}, cr, {}).ok());
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, o->order_id())->status(),
            ov1::ORDER_STATUS_CANCELLED);
  // A slow reader that loaded version 1 before the cancel cannot put it back.
  OrderCache cache(redis_.get(), minutes(1));
  ov1::Order stale = *o;
  std::string payload;
  stale.SerializeToString(&payload);
  uint64_t id = 0;
  ParseId(o->order_id(), &id);
  cache.Put(static_cast<int64_t>(id), 1, payload);
  EXPECT_EQ(manager_->GetOrder({"buyer-1", Role::kBuyer}, o->order_id())->status(),
            ov1::ORDER_STATUS_CANCELLED);
}

}  // namespace
}  // namespace orderly::order_core
