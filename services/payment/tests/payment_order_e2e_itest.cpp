// The whole payment path against the real binaries: orderly-inventory, orderly-order-core,
// orderly-payment and orderly-channel-sandbox, each with its own temporary database, wired through
// Kafka on topics unique to this run (order events, payment events) and through gRPC (order-core ->
// inventory, payment -> order-core). Nothing is played by the test: it only buys, pays at the
// sandbox and looks at each service through its own API.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "channel/channel.hpp"
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
#include "sandbox_keys.hpp"

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
    env->key_dir =
        std::filesystem::temp_directory_path().string() + "/orderly_e2e_keys_" + t::UniqueSuffix();
    ORDERLY_ASSERT_OK(sandbox::EnsureSandboxKeys(env->key_dir));
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
    ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string fulfillment_topic,
                                 t::UniqueTopic("orderly.fulfillment.v1.e2e", 1));
    ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string inventory_topic,
                                 t::UniqueTopic("orderly.inventory.v1.e2e", 3));
    const std::string run = t::UniqueSuffix();

    ORDERLY_ASSERT_OK_AND_ASSIGN(
        env->sandbox,
        (t::ServiceProcess::Start(
            {t::ServiceBinary("channel-sandbox"),
             {{"key_dir", env->key_dir}, {"notify_retry", "300ms"}, {"refund_delay", "300ms"}}})));
    ORDERLY_ASSERT_OK_AND_ASSIGN(env->inventory,
                                 (Start("inventory", {{"pg_database", env->inv_db->name()},
                                                      {"order_topic", env->order_topic},
                                                      {"inventory_topic", inventory_topic},
                                                      {"consumer_name", "inventory-e2e-" + run}})));
    ORDERLY_ASSERT_OK_AND_ASSIGN(
        env->order_core, (Start("order-core", {{"pg_database", env->order_db->name()},
                                               {"inventory_target", env->inventory->grpc_target()},
                                               {"order_topic", env->order_topic},
                                               {"payment_topic", env->payment_topic},
                                               {"fulfillment_topic", fulfillment_topic},
                                               {"inventory_topic", inventory_topic},
                                               {"consumer_name", "order-core-e2e-" + run},
                                               {"normal_payment_window", "10m"},
                                               {"sku_cache_ttl", "0"}})));
    // Short intervals: a dropped callback is found by the active query within a second or two.
    ORDERLY_ASSERT_OK_AND_ASSIGN(
        env->payment,
        (Start("payment", {{"pg_database", env->pay_db->name()},
                           {"sandbox", "true"},
                           {"channel_key_dir", env->key_dir},
                           {"channel_sandbox_url",
                            "http://127.0.0.1:" + std::to_string(env->sandbox->http_port())},
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
    env->inv = iv1::InventoryService::NewStub(
        grpc::CreateChannel(env->inventory->grpc_target(), grpc::InsecureChannelCredentials()));
    env->orders = ov1::OrderService::NewStub(
        grpc::CreateChannel(env->order_core->grpc_target(), grpc::InsecureChannelCredentials()));
    env->payments = v1::PaymentService::NewStub(
        grpc::CreateChannel(env->payment->grpc_target(), grpc::InsecureChannelCredentials()));

    ORDERLY_ASSERT_OK(AddSku(kSku));
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
    ORDERLY_EXPECT_OK(
        FromGrpcStatus(env->inv->CheckInvariants(Ctx(&c, "admin", "admin"), req, &resp)));
    EXPECT_GE(resp.checked_sku_count(), 1);
    for (const auto& v : resp.violations())
      ADD_FAILURE() << v.sku_id() << " " << v.invariant() << ": " << v.detail();
    if (HasFailure()) {
      std::cerr << "--- payment\n"
                << env->payment->LogTail(30) << "\n--- order-core\n"
                << env->order_core->LogTail(30) << "\n--- inventory\n"
                << env->inventory->LogTail(15) << "\n--- sandbox\n"
                << env->sandbox->LogTail(10) << "\n";
    }
  }

  // A mug SKU on sale with `stock` in stock.
  static absl::Status AddSku(const std::string& sku_id, int64_t stock = kReceived) {
    iv1::UpsertSkuRequest up;
    auto* sku = up.mutable_sku();
    sku->set_sku_id(sku_id);
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
    if (auto s = FromGrpcStatus(env->inv->UpsertSku(Ctx(&c1, "admin", "admin"), up, &ur)); !s.ok())
      return s;
    iv1::ReceiveStockRequest rs;
    rs.set_sku_id(sku_id);
    rs.set_quantity(stock);
    rs.set_request_id(NewUuidV7());
    iv1::ReceiveStockResponse rr;
    grpc::ClientContext c2;
    return FromGrpcStatus(env->inv->ReceiveStock(Ctx(&c2, "admin", "admin"), rs, &rr));
  }

  // A SKU of the scenario's own, so its stock moves only with the scenario's order.
  static std::string ScenarioSku(const std::string& tag, int64_t stock = kReceived) {
    std::string sku_id = "e2e-" + tag + "-" + t::UniqueSuffix();
    auto s = AddSku(sku_id, stock);
    EXPECT_TRUE(s.ok()) << s;
    return sku_id;
  }

  // A buyer's order of `quantity` mugs, PENDING_PAYMENT with its stock reserved.
  static absl::StatusOr<ov1::Order> BuyMugs(const std::string& buyer, int quantity,
                                            const std::string& sku_id = kSku) {
    ov1::GenerateOrderIdRequest idreq;
    idreq.set_buyer_id(buyer);
    ov1::GenerateOrderIdResponse id;
    grpc::ClientContext c1;
    if (auto s = FromGrpcStatus(env->orders->GenerateOrderId(Ctx(&c1, buyer, "buyer"), idreq, &id));
        !s.ok())
      return s;
    ov1::CreateOrderRequest req;
    req.set_order_id(id.order_id());
    req.set_buyer_id(buyer);
    req.set_request_id(NewUuidV7());
    auto* item = req.add_items();
    item->set_sku_id(sku_id);
    item->set_quantity(quantity);
    auto* a = req.mutable_shipping_address();
    a->set_receiver_name("Ada");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Shanghai");
    a->set_detail("1 Demo Road");
    ov1::CreateOrderResponse resp;
    grpc::ClientContext c2;
    if (auto s = FromGrpcStatus(env->orders->CreateOrder(Ctx(&c2, buyer, "buyer"), req, &resp));
        !s.ok())
      return s;
    return resp.order();
  }

  static absl::StatusOr<v1::Payment> CreatePayment(const ov1::Order& o,
                                                   v1::PaymentChannel channel) {
    v1::CreatePaymentRequest req;
    req.set_order_id(o.order_id());
    *req.mutable_amount() = o.price().payable_total();
    req.set_channel(channel);
    req.set_method(v1::PAYMENT_METHOD_NATIVE_QR);
    req.set_request_id("e2e-pay:" + o.order_id());
    v1::CreatePaymentResponse resp;
    grpc::ClientContext c;
    if (auto s = FromGrpcStatus(
            env->payments->CreatePayment(Ctx(&c, o.buyer_id(), "buyer"), req, &resp));
        !s.ok())
      return s;
    return resp.payment();
  }

  static std::string PayAtSandbox(const v1::Payment& p, bool force = false) {
    return SandboxPost("/sandbox/pay", "channel=" + ChannelName(p.channel()) + "&out_trade_no=" +
                                           p.payment_id() + (force ? "&force=1" : ""));
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

  static iv1::StockLevel Stock(const std::string& sku_id = kSku) {
    iv1::GetStockRequest req;
    req.add_sku_ids(sku_id);
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
        if (e.ParseFromString(r.value) && e.has_payment_succeeded() &&
            e.payment_succeeded().order_id() == order_id)
          ++count;
      }
      auto lag = (*consumer)->Lag();
      if (!lag.empty()) assigned = true;
      bool caught_up = assigned;
      for (const auto& [tp, n] : lag) caught_up = caught_up && n <= 0;
      if (caught_up && records->empty()) break;
    }
    return count;
  }

  static int64_t OutboxCount(const t::TempDatabase& db, const std::string& aggregate_id,
                             const std::string& type) {
    return std::stoll(Sql1(db, "SELECT count(*) FROM outbox WHERE aggregate_id = '" + aggregate_id +
                                   "' AND event_type = 'orderly.events.v1." + type + "'"));
  }

  // Every payment event has left the outbox, so the topic holds all there will be.
  static bool PaymentOutboxDrained() {
    return Sql1(*env->pay_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0";
  }

  static bool Paid(const ov1::Order& o) { return GetOrder(o).status() == ov1::ORDER_STATUS_PAID; }

  static int64_t PaySqlCount(const std::string& table, const v1::Payment& p) {
    return std::stoll(Sql1(*env->pay_db, "SELECT count(*) FROM " + table + " WHERE payment_id = '" +
                                             p.payment_id() + "'"));
  }

  static std::string TxSource(const v1::Payment& p) {
    return Sql1(*env->pay_db,
                "SELECT string_agg(source, ',') FROM payment_transactions WHERE payment_id = '" +
                    p.payment_id() + "'");
  }

  // Holds the active query off the payment (or lets it run now), so what a notification alone did
  // can be seen before the query settles the payment. Waits out a query already claimed.
  static void HoldActiveQuery(const v1::Payment& p, bool hold) {
    Sql1(*env->pay_db, std::string("UPDATE payments SET next_query_at = ") +
                           (hold ? "now() + interval '1 hour'" : "now()") +
                           " WHERE payment_id = '" + p.payment_id() + "'");
    if (hold) std::this_thread::sleep_for(1500ms);
  }

  // One counter of the sandbox's /sandbox/stats (0 until first counted).
  static int64_t SandboxStat(const std::string& name) {
    const std::string stats = SandboxPost("/sandbox/stats", "");
    const std::string key = "\"" + name + "\":";
    const auto at = stats.find(key);
    return at == std::string::npos ? 0 : std::stoll(stats.substr(at + key.size()));
  }

  // Notifications payment rejected for their signature, from its own metrics.
  static int64_t ForgedNotificationsSeen() {
    auto m = t::HttpCall(env->payment->http_port(), "GET", "/metrics");
    if (!m.ok()) return -1;
    int64_t total = 0;
    std::istringstream lines(m->body);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("orderly_payment_notifications_total{", 0) == 0 &&
          line.find("outcome=\"forged\"") != std::string::npos) {
        total += static_cast<int64_t>(std::stod(line.substr(line.rfind(' ') + 1)));
      }
    }
    return total;
  }

  static absl::StatusOr<ov1::Order> Cancel(const ov1::Order& o, const std::string& user,
                                           const std::string& role, ov1::CancelReason reason) {
    ov1::CancelOrderRequest req;
    req.set_order_id(o.order_id());
    req.set_reason(reason);
    req.set_request_id(NewUuidV7());
    ov1::CancelOrderResponse resp;
    grpc::ClientContext c;
    if (auto s = FromGrpcStatus(env->orders->CancelOrder(Ctx(&c, user, role), req, &resp)); !s.ok())
      return s;
    return resp.order();
  }

  // The order is PAID once: one PaymentSucceeded written and published, one OrderPaid, and its
  // `quantity` mugs sold out of its reservation.
  static void ExpectPaidOnce(const ov1::Order& order, const v1::Payment& payment,
                             const std::string& sku_id, const iv1::StockLevel& before,
                             int quantity) {
    EXPECT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_PAID);
    EXPECT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_SUCCEEDED);
    EXPECT_EQ(PaySqlCount("payment_transactions", payment), 1);
    EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 1);
    ASSERT_TRUE(Eventually(PaymentOutboxDrained));
    EXPECT_EQ(PublishedPaymentSucceeded(order.order_id()), 1);
    EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 1);
    EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderRefundRequested"), 0);
    ASSERT_TRUE(Eventually(
        [&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));
    const auto after = Stock(sku_id);
    EXPECT_EQ(after.sold(), before.sold() + quantity);
    EXPECT_EQ(after.reserved(), before.reserved());
    EXPECT_EQ(after.available(), before.available() - quantity);
    EXPECT_EQ(after.total_received(), before.total_received());
  }
};

// Issue 12.5: an order id order-core refuses as malformed is the client's to fix. Payment, not
// knowing the order, asks order-core; its INVALID_ARGUMENT used to become UNAVAILABLE
// DEPENDENCY_UNAVAILABLE, which tells a client to retry forever.
TEST_F(PaymentOrderE2ETest, AMalformedOrderIdIsInvalidArgumentNotUnavailable) {
  ov1::Order o;
  o.set_order_id("not-an-order-id");
  o.set_buyer_id("e2e-buyer-9");
  o.mutable_price()->mutable_payable_total()->set_amount_minor(kPrice);
  o.mutable_price()->mutable_payable_total()->set_currency_code("CNY");
  auto s = CreatePayment(o, v1::PAYMENT_CHANNEL_ALIPAY).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  ASSERT_EQ(ErrorFieldViolations(s).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(s)[0].field, "order_id");
}

TEST_F(PaymentOrderE2ETest, PaidAtTheChannelMakesTheOrderPaidAndConfirmsItsStock) {
  const auto before = Stock();
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-1", 2));
  EXPECT_EQ(order.status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(order.price().payable_total().amount_minor(), 2 * kPrice);
  EXPECT_EQ(Reservation(order.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
  EXPECT_EQ(Stock().reserved(), before.reserved() + 2);

  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));
  EXPECT_EQ(payment.status(), v1::PAYMENT_STATUS_PENDING);
  EXPECT_FALSE(payment.qr_code().empty());
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  EXPECT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_SUCCEEDED);
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT source FROM payment_transactions WHERE payment_id = '" +
                                   payment.payment_id() + "'"),
            "notify");
  ASSERT_TRUE(Eventually(
      [&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));
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
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_WECHAT_PAY));
  SandboxPost("/sandbox/faults", "drop=1");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  // No notification ever reached payment: the query found the trade paid.
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT source FROM payment_transactions WHERE payment_id = '" +
                                   payment.payment_id() + "'"),
            "query");
  EXPECT_NE(SandboxPost("/sandbox/stats", "").find("\"dropped\":1"), std::string::npos);
  ASSERT_TRUE(Eventually(
      [&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));
  EXPECT_EQ(Stock().sold(), before.sold() + 1);
  EXPECT_EQ(Stock().reserved(), before.reserved());
  EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 1);
  ASSERT_TRUE(Eventually(PaymentOutboxDrained));
  EXPECT_EQ(PublishedPaymentSucceeded(order.order_id()), 1);
}

TEST_F(PaymentOrderE2ETest, LatePaymentOnACancelledOrderIsRefundedAndTheOrderStaysCancelled) {
  const auto before = Stock();
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-3", 3));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));

  ov1::CancelOrderRequest cancel;
  cancel.set_order_id(order.order_id());
  cancel.set_reason(ov1::CANCEL_REASON_BUYER_REQUESTED);
  cancel.set_request_id(NewUuidV7());
  ov1::CancelOrderResponse cancelled;
  grpc::ClientContext c;
  ORDERLY_ASSERT_OK(FromGrpcStatus(
      env->orders->CancelOrder(Ctx(&c, order.buyer_id(), "buyer"), cancel, &cancelled)));
  EXPECT_EQ(cancelled.order().status(), ov1::ORDER_STATUS_CANCELLED);
  // OrderCancelled reaches payment (closes the payment) and inventory (releases the stock).
  ASSERT_TRUE(Eventually([&] { return GetPayment(payment).status() == v1::PAYMENT_STATUS_CLOSED; }))
      << v1::PaymentStatus_Name(GetPayment(payment).status());
  ASSERT_TRUE(Eventually(
      [&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_RELEASED; }));
  EXPECT_EQ(Stock().reserved(), before.reserved());

  // The buyer had the QR code open and pays anyway.
  EXPECT_EQ(PayAtSandbox(payment, /*force=*/true).substr(0, 3), "200");
  ASSERT_TRUE(Eventually(
      [&] { return GetPayment(payment).refund_state() == v1::PAYMENT_REFUND_STATE_REFUNDED; }, 30s))
      << GetPayment(payment).DebugString();
  const v1::Payment refunded = GetPayment(payment);
  EXPECT_EQ(refunded.status(), v1::PAYMENT_STATUS_SUCCEEDED);
  EXPECT_EQ(refunded.refunded_amount().amount_minor(),
            order.price().payable_total().amount_minor());
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT paid_after_close FROM payments WHERE payment_id = '" +
                                   payment.payment_id() + "'"),
            "t");
  EXPECT_EQ(std::stoll(Sql1(*env->pay_db, "SELECT count(*) FROM refunds WHERE payment_id = '" +
                                              payment.payment_id() + "'")),
            1);
  EXPECT_NE(
      SandboxPost("/sandbox/trade", "channel=alipay&out_trade_no=" + payment.payment_id())
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

TEST_F(PaymentOrderE2ETest, NotificationSentFiveTimesPaysTheOrderOnce) {
  const std::string sku = ScenarioSku("dup");
  const auto before = Stock(sku);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-dup", 2, sku));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_WECHAT_PAY));
  const int64_t duplicated = SandboxStat("duplicated");
  const int64_t landed = SandboxStat("delivered") + SandboxStat("delivery_failed");
  SandboxPost("/sandbox/faults", "duplicate=5");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  EXPECT_EQ(SandboxStat("duplicated"), duplicated + 1);
  // Every copy has reached payment before we count what it did.
  ASSERT_TRUE(Eventually([&] {
    return SandboxStat("delivered") + SandboxStat("delivery_failed") >= landed + 5 &&
           SandboxStat("deliveries_in_flight") == 0;
  }));
  EXPECT_EQ(TxSource(payment), "notify");
  ExpectPaidOnce(order, payment, sku, before, 2);
}

TEST_F(PaymentOrderE2ETest, ForgedNotificationLeavesTheOrderPendingUntilTheActiveQueryPaysIt) {
  const std::string sku = ScenarioSku("forged");
  const auto before = Stock(sku);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-forged", 1, sku));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));
  HoldActiveQuery(payment, true);
  const int64_t corrupted = SandboxStat("bad_signature");
  const int64_t forged = ForgedNotificationsSeen();
  ASSERT_GE(forged, 0);
  SandboxPost("/sandbox/faults", "bad_signature=1");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  // The forged notification has reached payment and been rejected: nothing moved.
  ASSERT_TRUE(Eventually([&] { return ForgedNotificationsSeen() > forged; }))
      << ForgedNotificationsSeen();
  EXPECT_EQ(SandboxStat("bad_signature"), corrupted + 1);
  EXPECT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_PENDING);
  EXPECT_EQ(PaySqlCount("payment_transactions", payment), 0);
  EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 0);
  EXPECT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 0);
  EXPECT_EQ(Reservation(order.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
  EXPECT_EQ(Stock(sku).reserved(), before.reserved() + 1);

  // The genuine path: the channel's answer to a query.
  HoldActiveQuery(payment, false);
  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  EXPECT_EQ(TxSource(payment), "query");
  ExpectPaidOnce(order, payment, sku, before, 1);
}

TEST_F(PaymentOrderE2ETest, WrongAmountInTheNotificationDoesNotPayTheOrder) {
  const std::string sku = ScenarioSku("amount");
  const auto before = Stock(sku);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-amount", 1, sku));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_WECHAT_PAY));
  const int64_t payable = order.price().payable_total().amount_minor();
  HoldActiveQuery(payment, true);
  const int64_t wrong = SandboxStat("wrong_amount");
  SandboxPost("/sandbox/faults", "wrong_amount=1");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");

  ASSERT_TRUE(Eventually([&] { return PaySqlCount("payment_anomalies", payment) > 0; }));
  EXPECT_EQ(SandboxStat("wrong_amount"), wrong + 1);
  const std::string where =
      " FROM payment_anomalies WHERE payment_id = '" + payment.payment_id() + "'";
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT kind" + where), "AMOUNT_MISMATCH");
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT expected_minor" + where), std::to_string(payable));
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT actual_minor" + where), std::to_string(payable + 1));
  // Re-sends of the same notification have had their chance too.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_PENDING);
  EXPECT_EQ(PaySqlCount("payment_transactions", payment), 0);
  EXPECT_EQ(OutboxCount(*env->pay_db, payment.payment_id(), "PaymentSucceeded"), 0);
  EXPECT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_PENDING_PAYMENT);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 0);
  EXPECT_EQ(Reservation(order.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);

  // The channel's own answer to a query carries the true amount.
  HoldActiveQuery(payment, false);
  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  EXPECT_EQ(TxSource(payment), "query");
  ExpectPaidOnce(order, payment, sku, before, 1);
}

TEST_F(PaymentOrderE2ETest, RefundThatTimesOutAfterAPaidOrderIsCancelledSucceedsByPolling) {
  const std::string sku = ScenarioSku("refund");
  const auto before = Stock(sku);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-refund", 2, sku));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_ALIPAY));
  const int64_t payable = order.price().payable_total().amount_minor();
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");
  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  ASSERT_TRUE(Eventually(
      [&] { return Reservation(order.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; }));

  const int64_t timeouts = SandboxStat("refund_timeouts");
  SandboxPost("/sandbox/faults", "refund_timeout=1");
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order cancelled,
                               Cancel(order, "e2e-admin", "admin", ov1::CANCEL_REASON_ADMIN));
  EXPECT_EQ(cancelled.status(), ov1::ORDER_STATUS_CANCELLED);

  const std::string where = " FROM refunds WHERE payment_id = '" + payment.payment_id() + "'";
  ASSERT_TRUE(Eventually(
      [&] { return Sql1(*env->pay_db, "SELECT string_agg(status, ',')" + where) == "SUCCEEDED"; },
      40s))
      << Sql1(*env->pay_db,
              "SELECT string_agg(status || ' ' || coalesce(last_error, ''), ',')" + where);
  // The refund call stalled past payment's timeout; it was queried until final, never re-sent.
  EXPECT_EQ(SandboxStat("refund_timeouts"), timeouts + 1);
  EXPECT_EQ(PaySqlCount("refunds", payment), 1);
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT attempts" + where), "1");
  EXPECT_EQ(Sql1(*env->pay_db, "SELECT amount_minor" + where), std::to_string(payable));
  ASSERT_TRUE(Eventually([&] {
    return GetPayment(payment).refund_state() == v1::PAYMENT_REFUND_STATE_REFUNDED;
  })) << GetPayment(payment).DebugString();
  EXPECT_EQ(GetPayment(payment).refunded_amount().amount_minor(), payable);
  EXPECT_NE(SandboxPost("/sandbox/trade", "channel=alipay&out_trade_no=" + payment.payment_id())
                .find("\"refunded\":" + std::to_string(payable)),
            std::string::npos);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderRefundRequested"), 1);
  EXPECT_EQ(OutboxCount(*env->order_db, order.order_id(), "OrderPaid"), 1);
  EXPECT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_CANCELLED);
  // Sold stock stays sold: it comes back through after-sale, not through the cancellation.
  const auto after = Stock(sku);
  EXPECT_EQ(after.sold(), before.sold() + 2);
  EXPECT_EQ(after.reserved(), before.reserved());
}

TEST_F(PaymentOrderE2ETest, ReconciliationPaysAnOrderTheChannelBilledAsPaid) {
  const std::string sku = ScenarioSku("recon");
  const auto before = Stock(sku);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order order, BuyMugs("e2e-buyer-recon", 1, sku));
  // UnionPay only here, so the bill's other records are this scenario's own.
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment payment,
                               CreatePayment(order, v1::PAYMENT_CHANNEL_UNIONPAY));
  // Past its query window and its notification lost: only the bill knows it was paid.
  Sql1(*env->pay_db, "UPDATE payments SET next_query_at = NULL WHERE payment_id = '" +
                         payment.payment_id() + "'");
  std::this_thread::sleep_for(1500ms);
  const int64_t dropped = SandboxStat("dropped");
  SandboxPost("/sandbox/faults", "drop=1");
  EXPECT_EQ(PayAtSandbox(payment).substr(0, 3), "200");
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(SandboxStat("dropped"), dropped + 1);
  EXPECT_NE(SandboxPost("/sandbox/trade", "channel=unionpay&out_trade_no=" + payment.payment_id())
                .find("\"state\":\"SUCCEEDED\""),
            std::string::npos);
  ASSERT_EQ(GetPayment(payment).status(), v1::PAYMENT_STATUS_PENDING);
  ASSERT_EQ(GetOrder(order).status(), ov1::ORDER_STATUS_PENDING_PAYMENT);

  v1::RunReconciliationRequest req;
  req.set_channel(v1::PAYMENT_CHANNEL_UNIONPAY);
  req.set_bill_date(ChinaTime(std::chrono::system_clock::now(), "%Y-%m-%d"));
  req.set_rerun(true);
  v1::RunReconciliationResponse resp;
  grpc::ClientContext c;
  ORDERLY_ASSERT_OK(
      FromGrpcStatus(env->payments->RunReconciliation(Ctx(&c, "e2e-admin", "admin"), req, &resp)));
  EXPECT_EQ(resp.report().status(), v1::RECONCILIATION_STATUS_COMPLETED);
  int fixed = 0;
  for (const auto& m : resp.report().mismatches()) {
    if (m.kind() == v1::MISMATCH_KIND_STATUS_DIFFERS && m.payment_id() == payment.payment_id())
      ++fixed;
  }
  EXPECT_EQ(fixed, 1) << resp.report().DebugString();
  EXPECT_EQ(TxSource(payment), "reconciliation");

  ASSERT_TRUE(Eventually([&] { return Paid(order); }))
      << ov1::OrderStatus_Name(GetOrder(order).status());
  ExpectPaidOnce(order, payment, sku, before, 1);
}

// The release race of issue 12 through the real services: the order's reservation is released
// (a Release from any caller, or a cancel that lost to the payment) and then the buyer pays. With
// the stock still there the order is PAID and its units sold; with the units sold to others the
// order ends CANCELLED as OUT_OF_STOCK and the money goes back: never a paid order with no stock.
TEST_F(PaymentOrderE2ETest, PaidAfterItsReservationWasReleasedGetsTheStockOrItsMoneyBack) {
  auto release = [](const ov1::Order& o) {
    iv1::ReleaseRequest req;
    req.set_order_id(o.order_id());
    req.set_reason(iv1::RELEASE_REASON_ORDER_CANCELLED);
    iv1::ReleaseResponse resp;
    grpc::ClientContext c;
    return FromGrpcStatus(env->inv->Release(Ctx(&c, "someone", "service"), req, &resp));
  };
  // 1. The stock is still there: taken again and sold to this order.
  const std::string kept = ScenarioSku("race-kept", 2);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order first, BuyMugs("e2e-race-1", 1, kept));
  ORDERLY_ASSERT_OK(release(first));
  EXPECT_EQ(Reservation(first.order_id()).state(), iv1::RESERVATION_STATE_RELEASED);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment p1,
                               CreatePayment(first, v1::PAYMENT_CHANNEL_ALIPAY));
  EXPECT_EQ(PayAtSandbox(p1).substr(0, 3), "200");
  ASSERT_TRUE(Eventually(
      [&] { return Reservation(first.order_id()).state() == iv1::RESERVATION_STATE_CONFIRMED; },
      30s))
      << iv1::ReservationState_Name(Reservation(first.order_id()).state());
  EXPECT_EQ(GetOrder(first).status(), ov1::ORDER_STATUS_PAID);
  EXPECT_EQ(Stock(kept).sold(), 1);
  EXPECT_EQ(Stock(kept).available(), 1);

  // 2. The freed unit went to another buyer: 2 units, never 3 live orders for them.
  const std::string gone = ScenarioSku("race-gone", 2);
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order late, BuyMugs("e2e-race-2", 1, gone));
  ORDERLY_ASSERT_OK(release(late));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const ov1::Order other, BuyMugs("e2e-race-3", 2, gone));
  ORDERLY_ASSERT_OK_AND_ASSIGN(const v1::Payment p2,
                               CreatePayment(late, v1::PAYMENT_CHANNEL_WECHAT_PAY));
  EXPECT_EQ(PayAtSandbox(p2).substr(0, 3), "200");
  ASSERT_TRUE(
      Eventually([&] { return GetOrder(late).status() == ov1::ORDER_STATUS_CANCELLED; }, 30s))
      << ov1::OrderStatus_Name(GetOrder(late).status());
  const ov1::Order cancelled = GetOrder(late);
  EXPECT_EQ(cancelled.cancel_reason(), ov1::CANCEL_REASON_OUT_OF_STOCK);
  EXPECT_EQ(cancelled.status_history(cancelled.status_history_size() - 1).action(), "out_of_stock");
  ASSERT_TRUE(Eventually(
      [&] { return GetPayment(p2).refund_state() == v1::PAYMENT_REFUND_STATE_REFUNDED; }, 30s))
      << GetPayment(p2).DebugString();
  EXPECT_EQ(GetPayment(p2).refunded_amount().amount_minor(),
            late.price().payable_total().amount_minor());
  EXPECT_EQ(OutboxCount(*env->order_db, late.order_id(), "OrderRefundRequested"), 1);
  EXPECT_EQ(OutboxCount(*env->inv_db, late.order_id(), "StockConfirmRefused"), 1);
  const auto stock = Stock(gone);
  EXPECT_EQ(stock.sold(), 0);
  EXPECT_EQ(stock.reserved(), 2);  // the other buyer's order, still unpaid
  EXPECT_EQ(stock.available(), 0);
  EXPECT_EQ(Reservation(other.order_id()).state(), iv1::RESERVATION_STATE_RESERVED);
}

}  // namespace
}  // namespace orderly::payment
