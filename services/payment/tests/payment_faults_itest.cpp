// End-to-end against the real orderly-payment and orderly-channel-sandbox binaries, PostgreSQL,
// Redis and Kafka: every sandbox fault down to the payment's (and the order projection's) state.
// order-core is played by this test (orders projection rows and order events on a unique topic).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "channel/channel.hpp"
#include "channel/crypto.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "channel_signatures.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/status.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/kafka/kafka.hpp"
#include "orderly/payment/v1/payment_service.grpc.pb.h"
#include "orderly/testing/env.hpp"
#include "orderly/testing/service_process.hpp"
#include "sandbox_keys.hpp"

namespace orderly::payment {
namespace {

using namespace std::chrono_literals;
namespace t = orderly::testing;
using sandbox::EnsureSandboxKeys;
using sandbox::kSandboxAlipayAppId;
using sandbox::LoadSandboxKeys;

struct Env {
  std::string key_dir, topic, brokers;
  std::optional<t::TempDatabase> db;
  std::unique_ptr<t::ServiceProcess> sandbox, payment;
  std::unique_ptr<v1::PaymentService::Stub> stub;
  kafka::ProducerPtr producer;
};
Env* env = nullptr;

template <typename Fn>
bool Eventually(Fn fn, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return fn();
}

std::string Sql1(const std::string& sql) {
  pqxx::connection c(env->db->dsn());
  pqxx::nontransaction tx(c);
  auto r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
}

std::string Sandbox(const std::string& path, const std::string& body = "") {
  auto r = t::HttpCall(env->sandbox->http_port(), "POST", path, body,
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  return r.ok() ? r->body : "";
}

class PaymentFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    env->key_dir =
        std::filesystem::temp_directory_path().string() + "/orderly_pay_itest_" + t::UniqueSuffix();
    ASSERT_TRUE(EnsureSandboxKeys(env->key_dir).ok());
    auto db = t::CreateTempDatabase("payment_itest");
    ASSERT_TRUE(db.ok()) << db.status();
    env->db.emplace(std::move(*db));
    auto brokers = t::KafkaBrokersFromEnv();
    ASSERT_TRUE(brokers.ok());
    env->brokers = *brokers;
    auto topic = t::UniqueTopic("orderly.order.v1.payment_itest", 3);
    ASSERT_TRUE(topic.ok()) << topic.status();
    env->topic = *topic;
    auto sandbox = t::ServiceProcess::Start({t::ServiceBinary("channel-sandbox"),
                                             {{"key_dir", env->key_dir},
                                              {"refund_delay", "300ms"},
                                              {"refund_timeout", "2500ms"},
                                              {"notify_retry", "300ms"}}});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    env->sandbox = std::move(*sandbox);
    auto payment = t::ServiceProcess::Start(
        {t::ServiceBinary("payment"),
         {{"pg_database", env->db->name()},
          {"sandbox", "true"},
          {"channel_key_dir", env->key_dir},
          {"channel_sandbox_url", "http://127.0.0.1:" + std::to_string(env->sandbox->http_port())},
          {"query_interval", "1s"},
          {"refund_query_interval", "1s"},
          {"refund_retry_base", "200ms"},
          {"channel_timeout", "1s"},
          {"poll_tick", "200ms"},
          {"order_core_target", ""},
          {"order_topic", env->topic},
          {"reconciliation_at", "off"},
          {"breaker_min_calls", "6"},
          {"breaker_open_for", "2s"}}});
    ASSERT_TRUE(payment.ok()) << payment.status();
    env->payment = std::move(*payment);
    env->stub = v1::PaymentService::NewStub(
        grpc::CreateChannel(env->payment->grpc_target(), grpc::InsecureChannelCredentials()));
    kafka::ProducerOptions po;
    po.brokers = env->brokers;
    env->producer = *kafka::Producer::Create(po);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(env->key_dir);
    delete env;
  }
  void SetUp() override { Sandbox("/sandbox/faults", "reset=1"); }
  void TearDown() override {
    if (HasFailure())
      std::cerr << env->payment->LogTail(30) << "\n" << env->sandbox->LogTail(10) << "\n";
  }

  static grpc::ClientContext* Ctx(grpc::ClientContext* c, const char* role = "service") {
    c->AddMetadata("x-user-id", "payment-itest");
    c->AddMetadata("x-user-role", role);
    c->set_deadline(std::chrono::system_clock::now() + 10s);
    return c;
  }

  // An order payment knows about (as if from OrderCreated).
  static std::string NewOrder(int64_t amount) {
    std::string id = NewUuidV7();
    Sql1("INSERT INTO orders (order_id, buyer_id, payable_minor, currency) VALUES ('" + id +
         "', 'buyer-1', " + std::to_string(amount) + ", 'CNY')");
    return id;
  }

  static absl::StatusOr<v1::Payment> Create(
      const std::string& order, int64_t amount, v1::PaymentChannel ch,
      const std::string& cur = "CNY", v1::PaymentMethod method = v1::PAYMENT_METHOD_NATIVE_QR) {
    v1::CreatePaymentRequest req;
    req.set_order_id(order);
    req.mutable_amount()->set_amount_minor(amount);
    req.mutable_amount()->set_currency_code(cur);
    req.set_channel(ch);
    req.set_method(method);
    req.set_request_id("create:" + order);
    v1::CreatePaymentResponse resp;
    grpc::ClientContext c;
    auto s = FromGrpcStatus(env->stub->CreatePayment(Ctx(&c), req, &resp));
    if (!s.ok()) return s;
    return resp.payment();
  }

  static std::string Status(const std::string& payment_id) {
    return Sql1("SELECT status FROM payments WHERE payment_id = '" + payment_id + "'");
  }
  static std::string Pay(const v1::Payment& p, bool force = false) {
    return Sandbox("/sandbox/pay", "channel=" + ChannelName(p.channel()) + "&out_trade_no=" +
                                       p.payment_id() + (force ? "&force=1" : ""));
  }
  static int64_t Count(const std::string& sql) { return std::stoll(Sql1(sql)); }
  static int64_t SucceededEvents(const std::string& payment_id) {
    return Count("SELECT count(*) FROM outbox WHERE aggregate_id = '" + payment_id +
                 "' AND event_type = 'orderly.events.v1.PaymentSucceeded'");
  }

  static void Produce(events::v1::EventEnvelope e) {
    e.set_event_id(NewUuidV7());
    e.set_aggregate_type("order");
    e.set_aggregate_id(e.order_id());
    e.set_sequence(
        std::stoll(Sql1("SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint")));
    e.set_event_type(e.has_order_cancelled() ? "orderly.events.v1.OrderCancelled"
                                             : "orderly.events.v1.OrderRefundRequested");
    auto res = env->producer->ProduceBatch(
        {kafka::Record{env->topic, e.order_id(), e.SerializeAsString()}}, 10s);
    ASSERT_TRUE(res[0].status.ok()) << res[0].status;
  }
};

// The app SDK takes Alipay's orderStr whole: a signed form whose values hold '&' and '='. It must
// come back from CreatePayment and from GetPayment (read from the database) exactly as the adapter
// made it (payment_alipay_sdk checks the adapter's string with alipay-sdk itself).
TEST_F(PaymentFaultsTest, AlipayAppPaymentReturnsTheWholeSignedOrderString) {
  auto p = Create(NewOrder(1234), 1234, v1::PAYMENT_CHANNEL_ALIPAY, "CNY", v1::PAYMENT_METHOD_APP);
  ASSERT_TRUE(p.ok()) << p.status();
  v1::GetPaymentRequest get;
  get.set_payment_id(p->payment_id());
  v1::GetPaymentResponse got;
  grpc::ClientContext c;
  ASSERT_TRUE(env->stub->GetPayment(Ctx(&c), get, &got).ok());
  auto keys = LoadSandboxKeys(env->key_dir);
  ASSERT_TRUE(keys.ok());
  auto merchant_public = *crypto::PublicKeyFromPem(keys->alipay_app_public);
  for (const v1::Payment& returned : {*p, got.payment()}) {
    ASSERT_EQ(returned.app_params_size(), 1);
    ASSERT_EQ(returned.app_params().count("orderStr"), 1u);
    auto order = wire::ParseFormStrict(returned.app_params().at("orderStr"));
    ASSERT_TRUE(order.ok()) << order.status();
    EXPECT_EQ((*order)["method"], "alipay.trade.app.pay");
    EXPECT_NE((*order)["biz_content"].find(p->payment_id()), std::string::npos);
    std::string sign = (*order)["sign"];
    order->erase("sign");
    EXPECT_TRUE(crypto::VerifySha256Rsa(merchant_public,
                                        protocol::AlipayRequestSigningString(*order), sign));
  }
}

TEST_F(PaymentFaultsTest, DroppedCallbackIsResolvedByTheActiveQuery) {
  const std::string order = NewOrder(1234);
  auto p = Create(order, 1234, v1::PAYMENT_CHANNEL_ALIPAY);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->qr_code().empty());
  Sandbox("/sandbox/faults", "drop=1");
  Pay(*p);
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) == "SUCCEEDED"; }));
  EXPECT_EQ(
      Sql1("SELECT source FROM payment_transactions WHERE payment_id = '" + p->payment_id() + "'"),
      "query");
  EXPECT_EQ(SucceededEvents(p->payment_id()), 1);
  EXPECT_EQ(Sql1("SELECT status FROM orders WHERE order_id = '" + order + "'"), "PAID");
}

TEST_F(PaymentFaultsTest, DuplicateNotificationSentFiveTimesIsAppliedOnce) {
  auto p = Create(NewOrder(500), 500, v1::PAYMENT_CHANNEL_WECHAT_PAY);
  ASSERT_TRUE(p.ok()) << p.status();
  Sandbox("/sandbox/faults", "duplicate=5");
  Pay(*p);
  ASSERT_TRUE(Eventually([&] {
    return Sandbox("/sandbox/stats").find("\"delivered\"") != std::string::npos &&
           Status(p->payment_id()) == "SUCCEEDED";
  }));
  std::this_thread::sleep_for(1500ms);  // let every copy land
  EXPECT_EQ(Count("SELECT count(*) FROM payment_transactions WHERE payment_id = '" +
                  p->payment_id() + "'"),
            1);
  EXPECT_EQ(SucceededEvents(p->payment_id()), 1);
  EXPECT_EQ(
      Sql1("SELECT source FROM payment_transactions WHERE payment_id = '" + p->payment_id() + "'"),
      "notify");
}

TEST_F(PaymentFaultsTest, ForgedSignatureIsRejectedAndChangesNothing) {
  auto p = Create(NewOrder(700), 700, v1::PAYMENT_CHANNEL_ALIPAY);
  ASSERT_TRUE(p.ok()) << p.status();
  // A notification signed with a key that is not Alipay's (made and used by the sandbox's code).
  auto key = *sandbox::crypto::LoadPrivateKey(sandbox::GenerateKeyPair()->private_pem);
  wire::Params f{{"notify_id", "forged-1"},         {"notify_type", "trade_status_sync"},
                 {"app_id", kSandboxAlipayAppId},   {"sign_type", "RSA2"},
                 {"out_trade_no", p->payment_id()}, {"trade_no", "FORGED"},
                 {"trade_status", "TRADE_SUCCESS"}, {"total_amount", "7.00"}};
  f["sign"] = *sandbox::signatures::AlipaySignNotification(key, f);
  auto r = t::HttpCall(env->payment->http_port(), "POST", "/notify/alipay", wire::EncodeForm(f),
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, "failure");
  EXPECT_EQ(Status(p->payment_id()), "PENDING");
  EXPECT_EQ(Count("SELECT count(*) FROM payment_transactions WHERE payment_id = '" +
                  p->payment_id() + "'"),
            0);
  // The sandbox's own bad-signature fault: rejected on every re-send; the active query settles it.
  Sandbox("/sandbox/faults", "bad_signature=10");
  Pay(*p);
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) == "SUCCEEDED"; }));
  EXPECT_EQ(
      Sql1("SELECT source FROM payment_transactions WHERE payment_id = '" + p->payment_id() + "'"),
      "query");
  auto m = t::HttpCall(env->payment->http_port(), "GET", "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("outcome=\"forged\""), std::string::npos);
}

TEST_F(PaymentFaultsTest, WrongAmountIsFlaggedNotPaid) {
  auto p = Create(NewOrder(900), 900, v1::PAYMENT_CHANNEL_UNIONPAY);
  ASSERT_TRUE(p.ok()) << p.status();
  // Hold the active query off so the flag is seen before the query settles the payment.
  Sql1("UPDATE payments SET next_query_at = now() + interval '1 hour' WHERE payment_id = '" +
       p->payment_id() + "'");
  Sandbox("/sandbox/faults", "wrong_amount=1");
  Pay(*p);
  ASSERT_TRUE(Eventually([&] {
    return Count("SELECT count(*) FROM payment_anomalies WHERE payment_id = '" + p->payment_id() +
                 "'") > 0;
  }));
  EXPECT_EQ(Sql1("SELECT kind FROM payment_anomalies WHERE payment_id = '" + p->payment_id() + "'"),
            "AMOUNT_MISMATCH");
  EXPECT_EQ(Sql1("SELECT actual_minor FROM payment_anomalies WHERE payment_id = '" +
                 p->payment_id() + "'"),
            "901");
  EXPECT_EQ(Status(p->payment_id()), "PENDING");
  EXPECT_EQ(SucceededEvents(p->payment_id()), 0);
  // The channel's own answer to a query carries the true amount.
  Sql1("UPDATE payments SET next_query_at = now() WHERE payment_id = '" + p->payment_id() + "'");
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) == "SUCCEEDED"; }));
}

TEST_F(PaymentFaultsTest, LatePaymentAfterCancelIsRefunded) {
  const std::string order = NewOrder(1500);
  auto p = Create(order, 1500, v1::PAYMENT_CHANNEL_WECHAT_PAY);
  ASSERT_TRUE(p.ok()) << p.status();
  // The buyer pays as the order is cancelled: the notification is late and the next active query
  // comes only after the cancellation.
  Sql1("UPDATE payments SET next_query_at = now() + interval '1 hour' WHERE payment_id = '" +
       p->payment_id() + "'");
  Sandbox("/sandbox/faults", "delay_ms=30000");
  Pay(*p);
  events::v1::EventEnvelope cancelled;
  cancelled.set_order_id(order);
  cancelled.mutable_order_cancelled()->set_order_id(order);
  Produce(cancelled);
  // OrderCancelled closes it here at once; closing at the channel then finds it paid.
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) != "PENDING"; }, 30s));
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) == "SUCCEEDED"; }));
  EXPECT_EQ(
      Sql1("SELECT paid_after_close FROM payments WHERE payment_id = '" + p->payment_id() + "'"),
      "t");
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE aggregate_id = '" + p->payment_id() +
                  "' AND event_type = 'orderly.events.v1.PaymentClosed'"),
            1);
  EXPECT_EQ(SucceededEvents(p->payment_id()), 1);
  // What order-core answers to PaymentSucceeded{after_close} on a cancelled order.
  events::v1::EventEnvelope refund;
  refund.set_order_id(order);
  auto* rr = refund.mutable_order_refund_requested();
  rr->set_order_id(order);
  rr->set_payment_id(p->payment_id());
  rr->mutable_amount()->set_amount_minor(1500);
  rr->mutable_amount()->set_currency_code("CNY");
  rr->set_reason(v1::REFUND_REASON_PAID_AFTER_CANCEL);
  rr->set_refund_request_id("order:" + order + ":paid-after-cancel:" + p->payment_id());
  Produce(refund);
  Produce(refund);  // redelivered: still one refund
  ASSERT_TRUE(Eventually([&] {
    return Sql1("SELECT refunded_minor FROM payments WHERE payment_id = '" + p->payment_id() +
                "'") == "1500";
  }));
  EXPECT_EQ(Count("SELECT count(*) FROM refunds WHERE payment_id = '" + p->payment_id() + "'"), 1);
  EXPECT_NE(Sandbox("/sandbox/trade?channel=wechatpay&out_trade_no=" + p->payment_id())
                .find("\"refunded\":1500"),
            std::string::npos);
}

TEST_F(PaymentFaultsTest, RefundThatTimesOutIsResolvedByQuerying) {
  auto p = Create(NewOrder(2000), 2000, v1::PAYMENT_CHANNEL_ALIPAY);
  ASSERT_TRUE(p.ok()) << p.status();
  Pay(*p);
  ASSERT_TRUE(Eventually([&] { return Status(p->payment_id()) == "SUCCEEDED"; }));
  Sandbox("/sandbox/faults", "refund_timeout=1");
  v1::RefundRequest req;
  req.set_payment_id(p->payment_id());
  req.mutable_amount()->set_amount_minor(800);
  req.mutable_amount()->set_currency_code("CNY");
  req.set_reason(v1::REFUND_REASON_ADMIN);
  req.set_request_id("refund:" + p->payment_id());
  v1::RefundResponse resp;
  grpc::ClientContext c;
  ASSERT_TRUE(env->stub->Refund(Ctx(&c, "admin"), req, &resp).ok());
  EXPECT_EQ(resp.refund().status(), v1::REFUND_STATUS_PROCESSING);
  const std::string id = resp.refund().refund_id();
  ASSERT_TRUE(Eventually(
      [&] {
        return Sql1("SELECT status FROM refunds WHERE refund_id = '" + id + "'") == "SUCCEEDED";
      },
      30s));
  EXPECT_EQ(Sql1("SELECT attempts FROM refunds WHERE refund_id = '" + id + "'"),
            "1");  // queried, never re-sent
  EXPECT_NE(Sandbox("/sandbox/trade?channel=alipay&out_trade_no=" + p->payment_id())
                .find("\"refunded\":800"),
            std::string::npos);
  // Partial refunds up to the captured amount, never beyond.
  req.set_request_id("refund2:" + p->payment_id());
  req.mutable_amount()->set_amount_minor(1201);
  grpc::ClientContext c2;
  auto s = FromGrpcStatus(env->stub->Refund(Ctx(&c2, "admin"), req, &resp));
  EXPECT_EQ(ErrorReason(s), "REFUND_EXCEEDS_CAPTURED");
  EXPECT_EQ(ErrorMetadata(s, "refundable"), "1200");
}

TEST_F(PaymentFaultsTest, ReconciliationFindsAndFixesAPlantedMismatch) {
  auto p = Create(NewOrder(3100), 3100, v1::PAYMENT_CHANNEL_UNIONPAY);
  ASSERT_TRUE(p.ok()) << p.status();
  // Past its query window, and the notification is lost: only the bill knows.
  Sql1("UPDATE payments SET next_query_at = NULL WHERE payment_id = '" + p->payment_id() + "'");
  Sandbox("/sandbox/faults", "drop=1");
  Pay(*p);
  Sandbox("/sandbox/bill/plant", "channel=unionpay&out_trade_no=stranger-1&amount=4200");
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(Status(p->payment_id()), "PENDING");
  v1::RunReconciliationRequest req;
  req.set_channel(v1::PAYMENT_CHANNEL_UNIONPAY);
  req.set_bill_date(ChinaTime(std::chrono::system_clock::now(), "%Y-%m-%d"));
  req.set_rerun(true);
  v1::RunReconciliationResponse resp;
  grpc::ClientContext c;
  auto s = FromGrpcStatus(env->stub->RunReconciliation(Ctx(&c, "admin"), req, &resp));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.report().status(), v1::RECONCILIATION_STATUS_COMPLETED);
  bool fixed = false, reported = false;
  for (const auto& m : resp.report().mismatches()) {
    if (m.kind() == v1::MISMATCH_KIND_STATUS_DIFFERS && m.payment_id() == p->payment_id())
      fixed = true;
    if (m.kind() == v1::MISMATCH_KIND_MISSING_LOCAL && m.channel_amount().amount_minor() == 4200)
      reported = true;
  }
  EXPECT_TRUE(fixed);
  EXPECT_TRUE(reported);
  EXPECT_EQ(Status(p->payment_id()), "SUCCEEDED");
  EXPECT_EQ(
      Sql1("SELECT source FROM payment_transactions WHERE payment_id = '" + p->payment_id() + "'"),
      "reconciliation");
  v1::GetReconciliationReportRequest get;
  get.set_channel(v1::PAYMENT_CHANNEL_UNIONPAY);
  get.set_bill_date(req.bill_date());
  v1::GetReconciliationReportResponse got;
  grpc::ClientContext c2;
  ASSERT_TRUE(env->stub->GetReconciliationReport(Ctx(&c2, "admin"), get, &got).ok());
  EXPECT_EQ(got.report().report_id(), resp.report().report_id());
}

TEST_F(PaymentFaultsTest, BadInputGetsClearErrorsAndChangesNothing) {
  const std::string order = NewOrder(1000);
  EXPECT_EQ(ErrorReason(Create(NewUuidV7(), 1000, v1::PAYMENT_CHANNEL_ALIPAY).status()),
            "ORDER_NOT_FOUND");
  auto mismatch = Create(order, 999, v1::PAYMENT_CHANNEL_ALIPAY).status();
  EXPECT_EQ(ErrorReason(mismatch), "AMOUNT_MISMATCH");
  EXPECT_EQ(ErrorMetadata(mismatch, "expected"), "1000");
  EXPECT_EQ(ErrorReason(Create(order, 1000, v1::PAYMENT_CHANNEL_ALIPAY, "USD").status()),
            "CURRENCY_MISMATCH");
  EXPECT_EQ(Create(order, 1000, static_cast<v1::PaymentChannel>(9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM payments WHERE order_id = '" + order + "'"), 0);
  // Garbage at the live endpoints: 4xx, never a 5xx or a crash.
  std::mt19937_64 rng(7);
  int server_errors = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string body(rng() % 300, '\0');
    for (auto& ch : body) ch = static_cast<char>(rng());
    const char* path = i % 3 == 0   ? "/notify/alipay"
                       : i % 3 == 1 ? "/notify/wechatpay"
                                    : "/notify/unionpay";
    auto r = t::HttpCall(env->payment->http_port(), "POST", path, body);
    if (!r.ok() || r->status >= 500) ++server_errors;
  }
  EXPECT_EQ(server_errors, 0);
  auto ready = t::HttpCall(env->payment->http_port(), "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
}

// Issues 12.3 and 12.5 through the real payment binary: malformed input answers INVALID_ARGUMENT
// with field violations and writes nothing. Before: an order id with a NUL or 1 MB of it answered
// INTERNAL (or, asking order-core, UNAVAILABLE), bill_date "" INTERNAL "invalid input syntax for
// type date", a notification with an empty body or an unknown channel OK, a 1 MB payment id
// RESOURCE_EXHAUSTED (echoed into the details), and bytes that are not protobuf INTERNAL.
TEST_F(PaymentFaultsTest, MalformedRequestsAreInvalidArgumentAndChangeNothing) {
  auto field_of = [](const absl::Status& s) {
    auto v = ErrorFieldViolations(s);
    return v.empty() ? std::string("<none>") : v[0].field;
  };
  const std::string huge(1 << 20, '9');
  for (const std::string& order : {std::string("x\0y", 3), huge}) {
    auto s = Create(order, 1000, v1::PAYMENT_CHANNEL_ALIPAY).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s.code() << " " << s.message();
    EXPECT_EQ(field_of(s), "order_id");
  }
  const std::string order = NewOrder(1000);
  auto too_much = Create(order, INT64_MAX, v1::PAYMENT_CHANNEL_ALIPAY).status();
  EXPECT_EQ(too_much.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(field_of(too_much), "amount.amount_minor");
  EXPECT_EQ(Count("SELECT count(*) FROM payments WHERE order_id = '" + order + "'"), 0);

  {
    v1::GetPaymentRequest req;
    req.set_payment_id(huge);
    v1::GetPaymentResponse resp;
    grpc::ClientContext c;
    auto s = FromGrpcStatus(env->stub->GetPayment(Ctx(&c), req, &resp));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s.code();
  }
  for (const std::string date : {"", "2030-02-30", "yesterday"}) {
    v1::GetReconciliationReportRequest req;
    req.set_channel(v1::PAYMENT_CHANNEL_ALIPAY);
    req.set_bill_date(date);
    v1::GetReconciliationReportResponse resp;
    grpc::ClientContext c;
    auto s = FromGrpcStatus(env->stub->GetReconciliationReport(Ctx(&c, "admin"), req, &resp));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "'" << date << "': " << s;
    EXPECT_EQ(field_of(s), "bill_date");
  }
  struct Notification {
    v1::PaymentChannel channel;
    std::string body;
    std::string field;
  };
  for (const Notification& n : {Notification{v1::PAYMENT_CHANNEL_ALIPAY, "", "body"},
                                Notification{static_cast<v1::PaymentChannel>(9), "a=b", "channel"},
                                Notification{v1::PAYMENT_CHANNEL_UNSPECIFIED, "a=b", "channel"}}) {
    v1::HandleChannelNotificationRequest req;
    req.set_channel(n.channel);
    req.set_body(n.body);
    v1::HandleChannelNotificationResponse resp;
    grpc::ClientContext c;
    auto s = FromGrpcStatus(env->stub->HandleChannelNotification(Ctx(&c), req, &resp));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n.field << ": " << s;
    EXPECT_EQ(field_of(s), n.field);
  }

  // Bytes that are not a CreatePaymentRequest.
  grpc::GenericStub generic(
      grpc::CreateChannel(env->payment->grpc_target(), grpc::InsecureChannelCredentials()));
  for (const std::string bytes :
       {std::string("\xff\xff\xff\xff"), std::string("\x0a\x02\xc0\xaf", 4)}) {
    grpc::ClientContext c;
    Ctx(&c);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&c, "/orderly.payment.v1.PaymentService/CreatePayment", {}, &request,
                      &response, [&](grpc::Status st) { done.set_value(std::move(st)); });
    auto s = FromGrpcStatus(done.get_future().get());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_EQ(ErrorFieldViolations(s).size(), 1u);
  }
}

// Last: it opens the UnionPay breaker.
TEST_F(PaymentFaultsTest, ChannelErrorsOpenTheBreakerThenItRecovers) {
  Sandbox("/sandbox/faults", "error_rate=1");
  absl::Status last;
  for (int i = 0; i < 10; ++i) {
    last = Create(NewOrder(100), 100, v1::PAYMENT_CHANNEL_UNIONPAY).status();
    if (std::string(last.message()).find("payment busy, try again later") != std::string::npos)
      break;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(last.message()).find("payment busy, try again later"), std::string::npos)
      << last;
  Sandbox("/sandbox/faults", "reset=1");
  std::this_thread::sleep_for(2500ms);  // open_for, then half-open probes
  auto ok = Create(NewOrder(100), 100, v1::PAYMENT_CHANNEL_UNIONPAY);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

// Without --sandbox, payment never falls back to the sandbox's keys (ORDERLY_CHANNEL_KEY_DIR is
// set in this environment): with no channel configured it refuses to start and says why.
TEST_F(PaymentFaultsTest, RefusesToStartWithoutChannelKeysUnlessSandbox) {
  auto payment = t::ServiceProcess::Start({t::ServiceBinary("payment"),
                                           {{"pg_database", env->db->name()},
                                            {"channel_key_dir", env->key_dir},
                                            {"consumer_enabled", "false"},
                                            {"order_core_target", ""},
                                            {"reconciliation_at", "off"}},
                                           std::chrono::milliseconds(20000)});
  ASSERT_FALSE(payment.ok());
  EXPECT_NE(payment.status().message().find("--sandbox"), std::string::npos) << payment.status();
  EXPECT_NE(payment.status().message().find("alipay is enabled but not configured"),
            std::string::npos)
      << payment.status();
}

}  // namespace
}  // namespace orderly::payment
