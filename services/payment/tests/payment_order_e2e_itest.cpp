// The whole payment path against the real binaries: orderly-inventory, orderly-order-core,
// orderly-payment and orderly-channel-sandbox, each with its own temporary database, wired through
// Kafka on topics unique to this run (order events, payment events) and through gRPC (order-core ->
// inventory, payment -> order-core). Nothing is played by the test: it only buys, pays at the
// sandbox and looks at each service through its own API.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <optional>
#include <thread>

#include <pqxx/pqxx>

#include "channel/sandbox_keys.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "orderly/kafka/kafka.hpp"
#include "orderly/order/v1/order_service.grpc.pb.h"
#include "orderly/payment/v1/payment_service.grpc.pb.h"
#include "orderly/testing/env.hpp"
#include "orderly/testing/service_process.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::payment {
namespace {

using namespace std::chrono_literals;
namespace t = orderly::testing;
namespace ov1 = ::orderly::order::v1;
namespace iv1 = ::orderly::inventory::v1;
namespace ev1 = ::orderly::events::v1;

constexpr char kSku[] = "e2e-mug";
constexpr int64_t kPrice = 4990;
constexpr int64_t kReceived = 100;

struct Env {
  std::string key_dir, brokers, order_topic, payment_topic;
  std::optional<t::TempDatabase> inv_db, order_db, pay_db;
  std::unique_ptr<t::ServiceProcess> sandbox, inventory, order_core, payment;
  std::unique_ptr<iv1::InventoryService::Stub> inv;
  std::unique_ptr<ov1::OrderService::Stub> orders;
  std::unique_ptr<v1::PaymentService::Stub> payments;
};
Env* env = nullptr;

template <typename Fn>
bool Eventually(Fn fn, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return fn();
}

grpc::ClientContext* Ctx(grpc::ClientContext* c, const std::string& user, const std::string& role) {
  c->AddMetadata("x-user-id", user);
  c->AddMetadata("x-user-role", role);
  c->set_deadline(std::chrono::system_clock::now() + 10s);
  return c;
}

std::string Sql1(const t::TempDatabase& db, const std::string& sql) {
  pqxx::connection c(db.dsn());
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
}

std::string SandboxPost(const std::string& path, const std::string& body) {
  auto r = t::HttpCall(env->sandbox->http_port(), "POST", path, body,
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  return r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString();
}

absl::StatusOr<std::unique_ptr<t::ServiceProcess>> Start(const std::string& dir,
                                                         std::map<std::string, std::string> flags) {
  flags["kafka_brokers"] = env->brokers;
  return t::ServiceProcess::Start({t::ServiceBinary(dir), std::move(flags)});
}

class PaymentOrderE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    env->key_dir = std::filesystem::temp_directory_path().string() + "/orderly_e2e_keys_" + t::UniqueSuffix();
    ORDERLY_ASSERT_OK(EnsureSandboxKeys(env->key_dir));
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->brokers, t::KafkaBrokersFromEnv());
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto inv_db, t::CreateTempDatabase("pay_e2e_inv"));
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto order_db, t::CreateTempDatabase("pay_e2e_order"));
    ORDERLY_ASSERT_OK_AND_ASSIGN(auto pay_db, t::CreateTempDatabase("pay_e2e_pay"));
    env->inv_db.emplace(std::move(inv_db));
    env->order_db.emplace(std::move(order_db));
    env->pay_db.emplace(std::move(pay_db));
    // Topics of our own: no other test's events reach these services, and ours reach no one else.
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->order_topic, t::UniqueTopic("orderly.order.v1.e2e", 3));
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->payment_topic, t::UniqueTopic("orderly.payment.v1.e2e", 3));
    ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string fulfillment_topic, t::UniqueTopic("orderly.fulfillment.v1.e2e", 1));
    const std::string run = t::UniqueSuffix();

    ORDERLY_ASSERT_OK_AND_ASSIGN(env->sandbox,
                                 (t::ServiceProcess::Start({t::ServiceBinary("channel-sandbox"),
                                                            {{"key_dir", env->key_dir},
                                                             {"notify_retry", "300ms"},
                                                             {"refund_delay", "300ms"}}})));
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->inventory, (Start("inventory", {{"pg_database", env->inv_db->name()},
                                                                     {"order_topic", env->order_topic},
                                                                     {"consumer_name", "inventory-e2e-" + run},
                                                                     {"relay_enabled", "false"}})));
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->order_core, (Start("order-core", {{"pg_database", env->order_db->name()},
                                                                       {"inventory_target", env->inventory->grpc_target()},
                                                                       {"order_topic", env->order_topic},
                                                                       {"payment_topic", env->payment_topic},
                                                                       {"fulfillment_topic", fulfillment_topic},
                                                                       {"consumer_name", "order-core-e2e-" + run},
                                                                       {"normal_payment_window", "10m"},
                                                                       {"sku_cache_ttl", "0"}})));
    // Short intervals: a dropped callback is found by the active query within a second or two.
    ORDERLY_ASSERT_OK_AND_ASSIGN(
        env->payment,
        (Start("payment", {{"pg_database", env->pay_db->name()},
                          {"channel_key_dir", env->key_dir},
                          {"channel_sandbox_url", "http://127.0.0.1:" + std::to_string(env->sandbox->http_port())},
                          {"order_core_target", env->order_core->grpc_target()},
                          {"order_topic", env->order_topic},
                          {"payment_topic", env->payment_topic},
                          {"consumer_name", "payment-e2e-" + run},
                          {"query_interval", "1s"},
                          {"poll_tick", "200ms"},
                          {"refund_query_interval", "1s"},
                          {"refund_retry_base", "200ms"},
                          {"channel_timeout", "2s"},
                          {"reconciliation_at", "off"}})));
    env->inv = iv1::InventoryService::NewStub(grpc::CreateChannel(env->inventory->grpc_target(), grpc::InsecureChannelCredentials()));
    env->orders = ov1::OrderService::NewStub(grpc::CreateChannel(env->order_core->grpc_target(), grpc::InsecureChannelCredentials()));
    env->payments = v1::PaymentService::NewStub(grpc::CreateChannel(env->payment->grpc_target(), grpc::InsecureChannelCredentials()));

    iv1::UpsertSkuRequest up;
    auto* sku = up.mutable_sku();
    sku->set_sku_id(kSku);
    sku->set_product_id("e2e-product");
    sku->set_product_name("Orderly mug");
    sku->mutable_list_price()->set_amount_minor(kPrice);
    sku->mutable_list_price()->set_currency_code("CNY");
    sku->set_sale_status(iv1::SKU_SALE_STATUS_ON_SALE);
    sku->set_merchant_id("m1");
    sku->set_warehouse_id("w1");
    up.set_request_id(NewUuidV7());
    iv1::UpsertSkuResponse ur;
    grpc::ClientContext c1;
    ORDERLY_ASSERT_OK(FromGrpcStatus(env->inv->UpsertSku(Ctx(&c1, "admin", "admin"), up, &ur)));
    iv1::ReceiveStockRequest rs;
    rs.set_sku_id(kSku);
    rs.set_quantity(kReceived);
    rs.set_request_id(NewUuidV7());
    iv1::ReceiveStockResponse rr;
    grpc::ClientContext c2;
    ORDERLY_ASSERT_OK(FromGrpcStatus(env->inv->ReceiveStock(Ctx(&c2, "admin", "admin"), rs, &rr)));
  }

  static void TearDownTestSuite() {
    if (env == nullptr) return;
    // Stop in reverse order of dependency, so none logs a storm of errors about the others.
    for (auto* p : {&env->payment, &env->order_core, &env->inventory, &env->sandbox}) {
      if (*p) (*p)->Stop();
    }
    std::filesystem::remove_all(env->key_dir);
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(env, nullptr);
    ASSERT_NE(env->payment, nullptr) << "set-up failed";
    SandboxPost("/sandbox/faults", "reset=1");
  }

  void TearDown() override {
    // Stock is conserved after every scenario: total_received = available + reserved + sold, and
    // reserved matches the open reservations.
    iv1::CheckInvariantsRequest req;
    iv1::CheckInvariantsResponse resp;
    grpc::ClientContext c;
    ORDERLY_EXPECT_OK(FromGrpcStatus(env->inv->CheckInvariants(Ctx(&c, "admin", "admin"), req, &resp)));
    EXPECT_GE(resp.checked_sku_count(), 1);
    for (const auto& v : resp.violations()) ADD_FAILURE() << v.sku_id() << " " << v.invariant() << ": " << v.detail();
    if (HasFailure()) {
      std::cerr << "--- payment\n" << env->payment->LogTail(30) << "\n--- order-core\n" << env->order_core->LogTail(30)
                << "\n--- inventory\n" << env->inventory->LogTail(15) << "\n--- sandbox\n" << env->sandbox->LogTail(10) << "\n";
    }
  }

  // A buyer's order of `quantity` mugs, PENDING_PAYMENT with its stock reserved.
  static absl::StatusOr<ov1::Order> BuyMugs(const std::string& buyer, int quantity) {
    ov1::GenerateOrderIdRequest idreq;
    idreq.set_buyer_id(buyer);
    ov1::GenerateOrderIdResponse id;
    grpc::ClientContext c1;
    if (auto s = FromGrpcStatus(env->orders->GenerateOrderId(Ctx(&c1, buyer, "buyer"), idreq, &id)); !s.ok()) return s;
    ov1::CreateOrderRequest req;
    req.set_order_id(id.order_id());
    req.set_buyer_id(buyer);
    req.set_request_id(NewUuidV7());
    auto* item = req.add_items();
    item->set_sku_id(kSku);
    item->set_quantity(quantity);
    auto* a = req.mutable_shipping_address();
    a->set_receiver_name("Ada");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Shanghai");
    a->set_detail("1 Demo Road");
    ov1::CreateOrderResponse resp;
    grpc::ClientContext c2;
    if (auto s = FromGrpcStatus(env->orders->CreateOrder(Ctx(&c2, buyer, "buyer"), req, &resp)); !s.ok()) return s;
    return resp.order();
  }

  static absl::StatusOr<v1::Payment> CreatePayment(const ov1::Order& o, v1::PaymentChannel channel) {
    v1::CreatePaymentRequest req;
    req.set_order_id(o.order_id());
    *req.mutable_amount() = o.price().payable_total();
    req.set_channel(channel);
    req.set_method(v1::PAYMENT_METHOD_NATIVE_QR);
    req.set_request_id("e2e-pay:" + o.order_id());
    v1::CreatePaymentResponse resp;
    grpc::ClientContext c;
    if (auto s = FromGrpcStatus(env->payments->CreatePayment(Ctx(&c, o.buyer_id(), "buyer"), req, &resp)); !s.ok()) return s;
    return resp.payment();
  }

  static std::string PayAtSandbox(const v1::Payment& p, bool force = false) {
    return SandboxPost("/sandbox/pay", "channel=" + ChannelName(p.channel()) + "&out_trade_no=" + p.payment_id() +
                                           (force ? "&force=1" : ""));
  }

  static ov1::Order GetOrder(const ov1::Order& o) {
    ov1::GetOrderRequest req;
    req.set_order_id(o.order_id());
    ov1::GetOrderResponse resp;
    grpc::ClientContext c;
    (void)env->orders->GetOrder(Ctx(&c, o.buyer_id(), "buyer"), req, &resp);
    return resp.order();
  }

  static v1::Payment GetPayment(const v1::Payment& p) {
    v1::GetPaymentRequest req;
    req.set_payment_id(p.payment_id());
    v1::GetPaymentResponse resp;
    grpc::ClientContext c;
    (void)env->payments->GetPayment(Ctx(&c, "e2e", "service"), req, &resp);
    return resp.payment();
  }

  static iv1::StockLevel Stock() {
    iv1::GetStockRequest req;
    req.add_sku_ids(kSku);
    iv1::GetStockResponse resp;
    grpc::ClientContext c;
    EXPECT_TRUE(env->inv->GetStock(Ctx(&c, "admin", "admin"), req, &resp).ok());
    return resp.stocks_size() == 1 ? resp.stocks(0) : iv1::StockLevel{};
  }

  static iv1::Reservation Reservation(const std::string& order_id) {
    iv1::GetReservationRequest req;
    req.set_order_id(order_id);
    iv1::GetReservationResponse resp;
    grpc::ClientContext c;
    (void)env->inv->GetReservation(Ctx(&c, "admin", "admin"), req, &resp);
    return resp.reservation();
  }

  // PaymentSucceeded events of the order as published on the payment topic (what order-core and
  // every other consumer sees), read end to end by a group of its own.
  static int PublishedPaymentSucceeded(const std::string& order_id) {
    kafka::ConsumerOptions co;
    co.brokers = env->brokers;
    co.group_id = "pay-e2e-count-" + t::UniqueSuffix();
    co.topics = {env->payment_topic};
    auto consumer = kafka::Consumer::Create(co);
    if (!consumer.ok()) {
      ADD_FAILURE() << consumer.status();
      return -1;
    }
    int count = 0;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    bool assigned = false;
    while (std::chrono::steady_clock::now() < deadline) {
      auto records = (*consumer)->Poll(500, 300ms);
      if (!records.ok()) continue;
      for (const auto& r : *records) {
        ev1::EventEnvelope e;
        if (e.ParseFromString(r.value) && e.has_payment_succeeded() && e.payment_succeeded().order_id() == order_id) ++count;
      }
      auto lag = (*consumer)->Lag();
      if (!lag.empty()) assigned = true;
      bool caught_up = assigned;
      for (const auto& [tp, n] : lag) caught_up = caught_up && n <= 0;
      if (caught_up && records->empty()) break;
    }
    return count;
  }

  static int64_t OutboxCount(const t::TempDatabase& db, const std::string& aggregate_id, const std::string& type) {
    return std::stoll(Sql1(db, "SELECT count(*) FROM outbox WHERE aggregate_id = '" + aggregate_id +
                                   "' AND event_type = 'orderly.events.v1." + type + "'"));
  }

  // Every payment event has left the outbox, so the topic holds all there will be.
  static bool PaymentOutboxDrained() {
    return Sql1(*env->pay_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0";
  }

  static bool Paid(const ov1::Order& o) { return GetOrder(o).status() == ov1::ORDER_STATUS_PAID; }
};

TEST_F(PaymentOrderE2ETest, PaidAtTheChannelMakesTheOrderPaidAndConfirmsItsStock) {
  const auto before = Stock();
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-1", 2));
  EXPECT_EQ(order.status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(order.price().payable_total().amount_minor(), 2 * kPrice);
  EXPECT_EQ(Reservation(order.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
  EXPECT_EQ(Stock().reserved(), before.reserved() + 2);

  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment, CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));
  EXPECT_EQ(payment.status(), v1::PAYMENT_STATUS_PENDING);
  EXPECT_FALSE(payment.qr_code().empty());
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return Paid(order); })) << ov1::OrderStatus_Name(GetOrder(order).status());
  EXPECT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_SUCCEEDED);
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT source FROM payment_transactions WHERE payment_id = '" + payment.payment_id() + "'"), "notify");
  ASSERT_TRUE(Eventually([&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));
  const auto after = Stock();
  EXPECT_EQ(after.reserved(), before.reserved());
  EXPECT_EQ(after.sold(), before.sold() + 2);
  EXPECT_EQ(after.available(), before.available() - 2);
  EXPECT_EQ(after.total_received(), before.total_received());

  // Exactly one PaymentSucceeded (written once, published once) and one OrderPaid.
  EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 1);
  ASSERT_TRUE(Eventually(PaymentOutboxDrained));
  EXPECT_EQ(PublishedPaymentSucceeded(order.order_id()), 1);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 1);
}

TEST_F(PaymentOrderE2ETest, DroppedCallbackStillPaysTheOrderThroughTheActiveQuery) {
  const auto before = Stock();
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-2", 1));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment, CreatePayment(order, v1::PAYMENT_CHANNEL_WECHAT_PAY));
  SandboxPost("/sandbox/faults", "drop=1");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return Paid(order); })) << ov1::OrderStatus_Name(GetOrder(order).status());
  // No notification ever reached payment: the query found the trade paid.
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT source FROM payment_transactions WHERE payment_id = '" + payment.payment_id() + "'"), "query");
  EXPECT_NE(SandboxPost("/sandbox/stats", "").find("\"dropped\":1"), std::string::npos);
  ASSERT_TRUE(Eventually([&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));
  EXPECT_EQ(Stock().sold(), before.sold() + 1);
  EXPECT_EQ(Stock().reserved(), before.reserved());
  EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 1);
  ASSERT_TRUE(Eventually(PaymentOutboxDrained));
  EXPECT_EQ(PublishedPaymentSucceeded(order.order_id()), 1);
}

TEST_F(PaymentOrderE2ETest, LatePaymentOnACancelledOrderIsRefundedAndTheOrderStaysCancelled) {
  const auto before = Stock();
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-3", 3));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment, CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));

  ov1::CancelOrderRequest cancel;
  cancel.set_order_id(order.order_id());
  cancel.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
  cancel.set_request_id(NewUuidV7());
  ov1::CancelOrderResponse cancelled;
  grpc::ClientContext c;
  ORDERLY_ASSERT_OK(FromGrpcStatus(env->orders->CancelOrder(Ctx(&c, order.buyer_id(), "buyer"), cancel, &cancelled)));
  EXPECT_EQ(cancelled.order().status(), ov1::ORDER_STATUS_CANCELLED);
  // OrderCancelled reaches payment (closes the payment) and inventory (releases the stock).
  ASSERT_TRUE(Eventually([&] { return GetPayment(payment).status() == v1::PAYMENT_STATUS_CLOSED; }))
      << v1::PaymentStatus_Name(GetPayment(payment).status());
  ASSERT_TRUE(Eventually([&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_RELEASED; }));
  EXPECT_EQ(Stock().reserved(), before.reserved());

  // The buyer had the QR code open and pays anyway.
  EXPECT_EQ(PayAtSandbox(payment, /*force=*/true).substr(0, 3), "200");
  ASSERT_TRUE(Eventually([&] { return GetPayment(payment).refund_state() == v1::PAYMENT_REFUND_STATE_REFUNDED; }, 30s))
      << GetPayment(payment).DebugString();
  const v1::Payment refunded = GetPayment(payment);
  EXPECT_EQ(refunded.status(), v1::PAYMENT_STATUS_SUCCEEDED);
  EXPECT_EQ(refunded.refunded_amount().amount_minor(), order.price().payable_total().amount_minor());
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT paid_after_close FROM payments WHERE payment_id = '" + payment.payment_id() + "'"), "t");
  EXPECT_EQ(std::stoll(Sql1(*env->pay_db, "SELECT count(*) FROM refunds WHERE payment_id = '" + payment.payment_id() + "'")), 1);
  EXPECT_NE(SandboxPost("/sandbox/trade", "channel=alipay&out_trade_no=" + payment.payment_id())
                .find("\"refunded\":" + std::to_string(order.price().payable_total().amount_minor())),
            std::string::npos);
  // order-core asked for the refund exactly once and never re-opened the order.
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderRefundRequested"), 1);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 0);
  EXPECT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(Reservation(order.order_id()).state(), iv1::RESERVATION_STATE_RELEASED);
  const auto after = Stock();
  EXPECT_EQ(after.reserved(), before.reserved());
  EXPECT_EQ(after.sold(), before.sold());
  EXPECT_EQ(after.available(), before.available());
  ASSERT_TRUE(Eventually(PaymentOutboxDrained));
  EXPECT_EQ(PublishedPaymentSucceeded(order.order_id()), 1);
}

}  // namespace
}  // namespace orderly::payment
