// End to end through gRPC against the real binaries: orderly-order-core and orderly-inventory
// with their own temporary databases, real Redis, and Kafka for payment events. Stock is checked
// with inventory's own GetStock / CheckInvariants after each scenario.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "orderly/core/ids.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "orderly/kafka/kafka.hpp"
#include "orderly/order/v1/order_service.grpc.pb.h"
#include "orderly/testing/env.hpp"
#include "orderly/testing/service_process.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace iv1 = ::orderly::inventory::v1;
namespace ev1 = ::orderly::events::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kStock = 1000;

struct Env {
  std::unique_ptr<orderly::testing::TempDatabase> inv_db, order_db;
  std::unique_ptr<orderly::testing::ServiceProcess> inventory, order_core;
  std::unique_ptr<iv1::InventoryService::Stub> inv;
  std::unique_ptr<ov1::OrderService::Stub> orders;
  std::string payment_topic;
  std::string brokers;
  kafka::ProducerPtr producer;
};
Env* env = nullptr;

void Identity(grpc::ClientContext* cc, const std::string& id, const std::string& role) {
  cc->AddMetadata("x-user-id", id);
  cc->AddMetadata("x-user-role", role);
  cc->set_deadline(std::chrono::system_clock::now() + seconds(10));
}

class OrderServiceIT : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env();
    auto inv_db = orderly::testing::CreateTempDatabase("order_it_inv");
    auto order_db = orderly::testing::CreateTempDatabase("order_it_order");
    ASSERT_TRUE(inv_db.ok() && order_db.ok());
    env->inv_db = std::make_unique<orderly::testing::TempDatabase>(std::move(*inv_db));
    env->order_db = std::make_unique<orderly::testing::TempDatabase>(std::move(*order_db));
    auto brokers = orderly::testing::KafkaBrokersFromEnv();
    ASSERT_TRUE(brokers.ok()) << brokers.status();
    env->brokers = *brokers;
    auto topic = orderly::testing::UniqueTopic("orderly.payment.v1.it", 3);
    ASSERT_TRUE(topic.ok()) << topic.status();
    env->payment_topic = *topic;
    auto ftopic = orderly::testing::UniqueTopic("orderly.fulfillment.v1.it", 3);
    ASSERT_TRUE(ftopic.ok()) << ftopic.status();
    auto itopic = orderly::testing::UniqueTopic("orderly.inventory.v1.it", 3);
    ASSERT_TRUE(itopic.ok()) << itopic.status();

    auto inv =
        orderly::testing::ServiceProcess::Start({orderly::testing::ServiceBinary("inventory"),
                                                 {{"pg_database", env->inv_db->name()},
                                                  {"consumer_enabled", "false"},
                                                  {"relay_enabled", "false"},
                                                  {"kafka_brokers", env->brokers}}});
    ASSERT_TRUE(inv.ok()) << inv.status();
    env->inventory = std::move(*inv);
    env->inv = iv1::InventoryService::NewStub(
        grpc::CreateChannel(env->inventory->grpc_target(), grpc::InsecureChannelCredentials()));
    auto oc = orderly::testing::ServiceProcess::Start(
        {orderly::testing::ServiceBinary("order-core"),
         {{"pg_database", env->order_db->name()},
          {"inventory_target", env->inventory->grpc_target()},
          {"normal_payment_window", "2s"},
          {"timer_interval", "100ms"},
          {"sweep_interval", "1s"},
          {"relay_enabled", "false"},
          {"kafka_brokers", env->brokers},
          {"payment_topic", env->payment_topic},
          {"fulfillment_topic", *ftopic},
          {"inventory_topic", *itopic},
          {"consumer_name", "order-core-it-" + orderly::testing::UniqueSuffix()},
          {"sku_cache_ttl", "0"}}});
    ASSERT_TRUE(oc.ok()) << oc.status();
    env->order_core = std::move(*oc);
    env->orders = ov1::OrderService::NewStub(
        grpc::CreateChannel(env->order_core->grpc_target(), grpc::InsecureChannelCredentials()));
    kafka::ProducerOptions po;
    po.brokers = env->brokers;
    auto producer = kafka::Producer::Create(po);
    ASSERT_TRUE(producer.ok()) << producer.status();
    env->producer = std::move(*producer);

    for (const char* id : {"it-a", "it-b", "it-c"}) {
      iv1::UpsertSkuRequest up;
      auto* sku = up.mutable_sku();
      sku->set_sku_id(id);
      sku->set_product_id(std::string("p-") + id);
      sku->set_product_name(std::string("Item ") + id);
      sku->mutable_list_price()->set_amount_minor(1999);
      sku->mutable_list_price()->set_currency_code("CNY");
      sku->set_sale_status(iv1::SKU_SALE_STATUS_ON_SALE);
      sku->set_merchant_id(std::string(id) == "it-c" ? "m2" : "m1");
      sku->set_warehouse_id("w1");
      sku->set_stock_buckets(1);
      up.set_request_id(NewUuidV7());
      iv1::UpsertSkuResponse ur;
      grpc::ClientContext c1;
      Identity(&c1, "admin", "admin");
      auto s = env->inv->UpsertSku(&c1, up, &ur);
      ASSERT_TRUE(s.ok()) << s.error_message();
      iv1::ReceiveStockRequest rs;
      rs.set_sku_id(id);
      rs.set_quantity(kStock);
      rs.set_request_id(NewUuidV7());
      iv1::ReceiveStockResponse rr;
      grpc::ClientContext c2;
      Identity(&c2, "admin", "admin");
      s = env->inv->ReceiveStock(&c2, rs, &rr);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  static void TearDownTestSuite() {
    if (env != nullptr) {
      if (env->order_core) env->order_core->Stop();
      if (env->inventory) env->inventory->Stop();
    }
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(env, nullptr);
    ASSERT_NE(env->order_core, nullptr);
  }

  void TearDown() override {
    // Stock conservation after every scenario: the inventory's own invariants hold.
    iv1::CheckInvariantsRequest req;
    iv1::CheckInvariantsResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, "admin", "admin");
    auto s = env->inv->CheckInvariants(&cc, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const auto& v : resp.violations())
      ADD_FAILURE() << v.sku_id() << " " << v.invariant() << ": " << v.detail();
    if (HasFailure()) {
      std::cerr << "order-core log:\n"
                << env->order_core->LogTail(60) << "\ninventory log:\n"
                << env->inventory->LogTail(30);
    }
  }

  std::string NewId(const std::string& buyer) {
    ov1::GenerateOrderIdRequest req;
    req.set_buyer_id(buyer);
    ov1::GenerateOrderIdResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, buyer, "buyer");
    EXPECT_TRUE(env->orders->GenerateOrderId(&cc, req, &resp).ok());
    return resp.order_id();
  }

  ov1::CreateOrderRequest Request(const std::string& buyer,
                                  std::vector<std::pair<std::string, int>> items) {
    ov1::CreateOrderRequest r;
    r.set_order_id(NewId(buyer));
    r.set_buyer_id(buyer);
    r.set_request_id(NewUuidV7());
    for (auto& [sku, q] : items) {
      auto* it = r.add_items();
      it->set_sku_id(sku);
      it->set_quantity(q);
    }
    auto* a = r.mutable_shipping_address();
    a->set_receiver_name("Li Lei");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Hangzhou");
    a->set_detail("88 Tianmushan Road");
    return r;
  }

  absl::StatusOr<ov1::Order> Create(const ov1::CreateOrderRequest& r) {
    ov1::CreateOrderResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, r.buyer_id(), "buyer");
    auto s = FromGrpcStatus(env->orders->CreateOrder(&cc, r, &resp));
    if (!s.ok()) return s;
    return resp.order();
  }

  absl::StatusOr<ov1::Order> Get(const std::string& buyer, const std::string& id) {
    ov1::GetOrderRequest req;
    req.set_order_id(id);
    ov1::GetOrderResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, buyer, "buyer");
    auto s = FromGrpcStatus(env->orders->GetOrder(&cc, req, &resp));
    if (!s.ok()) return s;
    return resp.order();
  }

  absl::StatusOr<ov1::Order> Cancel(const std::string& buyer, const std::string& id,
                                    ov1::CancelReason reason = ov1::CANCEL_REASON_BUYER_REQUESTED) {
    ov1::CancelOrderRequest req;
    req.set_order_id(id);
    req.set_reason(reason);
    req.set_request_id(NewUuidV7());
    ov1::CancelOrderResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, buyer, "buyer");
    auto s = FromGrpcStatus(env->orders->CancelOrder(&cc, req, &resp));
    if (!s.ok()) return s;
    return resp.order();
  }

  iv1::StockLevel Stock(const std::string& sku) {
    iv1::GetStockRequest req;
    req.add_sku_ids(sku);
    iv1::GetStockResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, "admin", "admin");
    EXPECT_TRUE(env->inv->GetStock(&cc, req, &resp).ok());
    return resp.stocks(0);
  }

  iv1::Reservation Reservation(const std::string& order_id) {
    iv1::GetReservationRequest req;
    req.set_order_id(order_id);
    iv1::GetReservationResponse resp;
    grpc::ClientContext cc;
    Identity(&cc, "admin", "admin");
    (void)env->inv->GetReservation(&cc, req, &resp);
    return resp.reservation();
  }

  void PublishPayment(const ov1::Order& o, const std::string& payment_id) {
    ev1::EventEnvelope e;
    e.set_event_id(NewUuidV7());
    e.set_event_type("orderly.events.v1.PaymentSucceeded");
    e.set_aggregate_type("payment");
    e.set_aggregate_id(payment_id);
    e.set_sequence(1);
    e.set_source("payment");
    e.set_order_id(o.order_id());
    auto* p = e.mutable_payment_succeeded();
    p->set_payment_id(payment_id);
    p->set_order_id(o.order_id());
    *p->mutable_amount() = o.price().payable_total();
    kafka::Record r;
    r.topic = env->payment_topic;
    r.key = o.order_id();
    e.SerializeToString(&r.value);
    auto res = env->producer->ProduceBatch({r}, seconds(10));
    ASSERT_TRUE(res[0].status.ok()) << res[0].status;
  }

  // Outbox rows of the order-core database.
  std::vector<std::string> OutboxTypes(const std::string& order_id) {
    std::vector<std::string> out;
    try {
      pqxx::connection c(env->order_db->dsn());
      pqxx::work tx(c);
      for (const auto& r : tx.exec_params(
               "SELECT event_type FROM outbox WHERE aggregate_id = $1 ORDER BY id", order_id)) {
        out.push_back(r[0].c_str());
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    return out;
  }

  template <typename Pred>
  bool WaitFor(Pred pred, milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return pred();
  }
};

TEST_F(OrderServiceIT, CreateDuplicateConcurrentDuplicateAndFingerprintMismatch) {
  const int64_t reserved_before = Stock("it-a").reserved();
  auto req = Request("it-buyer-1", {{"it-a", 2}, {"it-b", 1}});
  auto first = Create(req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(first->price().payable_total().amount_minor(), 3 * 1999);
  EXPECT_EQ(Reservation(req.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
  auto again = Create(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->order_id(), first->order_id());

  // Double click: many identical requests at once, one order.
  auto dc = Request("it-buyer-1", {{"it-a", 1}});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::mutex mu;
  std::set<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] {
      auto r = Create(dc);
      if (r.ok()) {
        ++ok;
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(r->order_id());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 10);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(Stock("it-a").reserved() - reserved_before, 3);

  auto changed = req;
  changed.mutable_items(0)->set_quantity(5);
  auto mismatch = Create(changed);
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(mismatch.status()), "REQUEST_FINGERPRINT_MISMATCH");
  EXPECT_EQ(Stock("it-a").reserved() - reserved_before, 3);

  // Bad input: nothing reserved.
  auto bad = Request("it-buyer-1", {{"it-a", 1000}});
  auto refused = Create(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFieldViolations(refused.status()).at(0).field, "items[0].quantity");
  EXPECT_EQ(Reservation(bad.order_id()).state(), iv1::RESERVATION_STATE_UNSPECIFIED);
  // Another buyer does not see the order.
  EXPECT_EQ(Get("it-buyer-2", req.order_id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OrderServiceIT, CancelReleasesTheReservation) {
  const auto before = Stock("it-b");
  auto o = Create(Request("it-buyer-2", {{"it-b", 4}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(Stock("it-b").available(), before.available() - 4);
  auto c = Cancel("it-buyer-2", o->order_id());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(c->buyer_status_view(), ov1::BUYER_ORDER_STATUS_CANCELLED);
  EXPECT_EQ(Reservation(o->order_id()).state(), iv1::RESERVATION_STATE_RELEASED);
  EXPECT_EQ(Stock("it-b").available(), before.available());
  EXPECT_EQ(Stock("it-b").reserved(), before.reserved());
}

TEST_F(OrderServiceIT, TimeoutFiresWithinASecondOfTheDeadline) {
  const auto before = Stock("it-c");
  auto o = Create(Request("it-buyer-3", {{"it-c", 2}}));
  ASSERT_TRUE(o.ok()) << o.status();
  const auto deadline = std::chrono::system_clock::time_point(
      std::chrono::seconds(o->payment_deadline().seconds()) +
      std::chrono::nanoseconds(o->payment_deadline().nanos()));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto g = Get("it-buyer-3", o->order_id());
        return g.ok() && g->status() == ov1::ORDER_STATUS_CANCELLED;
      },
      seconds(6)));
  const auto late = std::chrono::system_clock::now() - deadline;
  EXPECT_LT(late, seconds(1) + milliseconds(300)) << "fired late";
  auto g = Get("it-buyer-3", o->order_id());
  EXPECT_EQ(g->cancel_reason(), ov1::CANCEL_REASON_PAYMENT_TIMEOUT);
  EXPECT_EQ(g->status_history(1).action(), "timeout");
  EXPECT_TRUE(WaitFor([&] { return Stock("it-c").available() == before.available(); }, seconds(3)));
}

TEST_F(OrderServiceIT, PaidAfterCancelIsRefundedAndStaysCancelled) {
  auto o = Create(Request("it-buyer-4", {{"it-a", 1}}));
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(Cancel("it-buyer-4", o->order_id()).ok());
  PublishPayment(*o, "pay-late-" + o->order_id());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto t = OutboxTypes(o->order_id());
        return !t.empty() && t.back() == "orderly.events.v1.OrderRefundRequested";
      },
      seconds(20)))
      << "no refund request";
  EXPECT_EQ(Get("it-buyer-4", o->order_id())->status(), ov1::ORDER_STATUS_CANCELLED);
}

// Issue 12.5 through the real server: CancelOrder refuses reason UNSPECIFIED, and a buyer
// cancelling a PAID order gets what the contract promises (FAILED_PRECONDITION
// ORDER_NOT_CANCELLABLE), not PERMISSION_DENIED ACTOR_NOT_ALLOWED. Issue 12.3: ids with a NUL or
// 1 MB of them are INVALID_ARGUMENT, never INTERNAL or RESOURCE_EXHAUSTED.
TEST_F(OrderServiceIT, CancelContractAndMalformedIds) {
  auto o = Create(Request("it-buyer-6", {{"it-a", 1}}));
  ASSERT_TRUE(o.ok()) << o.status();
  auto unspecified = Cancel("it-buyer-6", o->order_id(), ov1::CANCEL_REASON_UNSPECIFIED);
  EXPECT_EQ(unspecified.status().code(), absl::StatusCode::kInvalidArgument)
      << unspecified.status();
  ASSERT_EQ(ErrorFieldViolations(unspecified.status()).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(unspecified.status())[0].field, "reason");

  PublishPayment(*o, "pay-cancel-" + o->order_id());
  ASSERT_TRUE(
      WaitFor([&] { return Get("it-buyer-6", o->order_id())->status() == ov1::ORDER_STATUS_PAID; },
              seconds(20)));
  auto refused = Cancel("it-buyer-6", o->order_id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(ErrorReason(refused.status()), "ORDER_NOT_CANCELLABLE");
  EXPECT_EQ(Get("it-buyer-6", o->order_id())->status(), ov1::ORDER_STATUS_PAID);

  for (const std::string& id : {std::string("1\0", 2), std::string(1 << 20, '7')}) {
    auto got = Get("it-buyer-6", id);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status().code();
    auto cancel = Cancel("it-buyer-6", id);
    EXPECT_EQ(cancel.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// Which roles may call an RPC is decided in the glue, by the same rules as every other service
// (server::RequireRole); whose order it is, by the domain.
TEST_F(OrderServiceIT, RolesAreCheckedAtTheDoorOwnershipInTheDomain) {
  auto req = Request("it-buyer-7", {{"it-a", 1}});
  auto call = [&](const std::string& id, const std::string& role) {
    ov1::CreateOrderResponse resp;
    grpc::ClientContext cc;
    if (!role.empty()) Identity(&cc, id, role);
    return FromGrpcStatus(env->orders->CreateOrder(&cc, req, &resp));
  };
  auto anonymous = call("", "");
  EXPECT_EQ(anonymous.code(), absl::StatusCode::kUnauthenticated) << anonymous;
  EXPECT_EQ(ErrorReason(anonymous), "CALLER_UNKNOWN");
  auto merchant = call("m1", "merchant");
  EXPECT_EQ(merchant.code(), absl::StatusCode::kPermissionDenied) << merchant;
  EXPECT_EQ(ErrorReason(merchant), "ROLE_NOT_ALLOWED");
  EXPECT_EQ(ErrorMetadata(merchant, "role"), "merchant");
  auto other_buyer = call("it-buyer-8", "buyer");  // a buyer ordering for someone else
  EXPECT_EQ(other_buyer.code(), absl::StatusCode::kPermissionDenied) << other_buyer;
  EXPECT_EQ(ErrorReason(other_buyer), "ROLE_NOT_ALLOWED");
  auto o = Create(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(Get("it-buyer-8", o->order_id()).status().code(), absl::StatusCode::kNotFound);
  ov1::ListOrdersRequest list;
  list.set_view(ov1::ORDER_LIST_VIEW_BUYER);
  ov1::ListOrdersResponse listed;
  grpc::ClientContext cc;
  Identity(&cc, "svc", "service");
  auto service_list = FromGrpcStatus(env->orders->ListOrders(&cc, list, &listed));
  EXPECT_EQ(service_list.code(), absl::StatusCode::kPermissionDenied) << service_list;
}

TEST_F(OrderServiceIT, PaymentRacingTheTimeout) {
  // Payments published right at the deadline: each order ends either PAID (no cancel) or
  // CANCELLED with a refund request, never both, and stock matches.
  std::vector<ov1::Order> orders;
  for (int i = 0; i < 4; ++i) {
    auto o = Create(Request("it-buyer-5", {{"it-b", 1}}));
    ASSERT_TRUE(o.ok()) << o.status();
    orders.push_back(*o);
  }
  std::this_thread::sleep_for(milliseconds(1900));
  for (const auto& o : orders) PublishPayment(o, "pay-race-" + o.order_id());
  for (const auto& o : orders) {
    ASSERT_TRUE(WaitFor(
        [&] {
          auto g = Get("it-buyer-5", o.order_id());
          if (!g.ok()) return false;
          if (g->status() == ov1::ORDER_STATUS_PAID) return true;
          auto t = OutboxTypes(o.order_id());
          return g->status() == ov1::ORDER_STATUS_CANCELLED && !t.empty() &&
                 t.back() == "orderly.events.v1.OrderRefundRequested";
        },
        seconds(20)))
        << o.order_id();
    auto g = Get("it-buyer-5", o.order_id());
    auto types = OutboxTypes(o.order_id());
    const bool cancelled =
        std::count(types.begin(), types.end(), "orderly.events.v1.OrderCancelled");
    const bool paid = std::count(types.begin(), types.end(), "orderly.events.v1.OrderPaid");
    EXPECT_NE(cancelled, paid) << o.order_id();
    if (paid) {
      EXPECT_EQ(Reservation(o.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
    } else {
      EXPECT_TRUE(WaitFor(
          [&] { return Reservation(o.order_id()).state() == iv1::RESERVATION_STATE_RELEASED; },
          seconds(3)));
    }
  }
}

}  // namespace
}  // namespace orderly::order_core
