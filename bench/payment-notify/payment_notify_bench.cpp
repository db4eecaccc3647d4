// bench/run payment-notify: how fast payment takes channel notifications, and how long a paid trade
// takes to make its order PAID in order-core.
//
// Starts the real orderly-channel-sandbox, orderly-inventory, orderly-order-core and
// orderly-payment (temporary databases, free ports, Kafka topics unique to the run), seeds one SKU,
// creates orders through order-core and an Alipay payment for each through payment (which opens
// the trade at the sandbox). Then plays the channel itself: Alipay TRADE_SUCCESS notifications
// signed with the sandbox's Alipay key, exactly as the sandbox would send them.
//   burst     every payment notified at once, each notification also re-sent as-is and once more
//             re-signed under a new notify_id (a channel's retry), all shuffled and fired by
//             --concurrency senders: verified + deduplicated + applied notifications per second.
//   latency   --latency_payments payments notified open-loop at --latency_rate per second, one
//             notification each: time from the notification leaving the channel to the order's
//             paid_at in order-core (payment outbox -> Kafka -> order-core consumer), p50/p99.
// Then counts what was applied more than once, for real, in every database: payment transactions
// and PaymentSucceeded rows per payment, OrderPaid rows per order, units sold per unit bought.
// Prints a report on stderr and `key=value` lines on stdout for run.sh.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <vector>

#include "channel_signatures.hpp"
#include "channel_wire.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/status.hpp"
#include "orderly/inventory/v1/inventory_service.grpc.pb.h"
#include "orderly/order/v1/order_service.grpc.pb.h"
#include "orderly/payment/v1/payment_service.grpc.pb.h"
#include "orderly/testing/env.hpp"
#include "orderly/testing/service_process.hpp"
#include "sandbox_keys.hpp"

ABSL_FLAG(int, payments, 1000, "payments notified in the burst");
ABSL_FLAG(int, duplicates, 2,
          "extra copies of each burst notification (identical, then re-signed)");
ABSL_FLAG(int, concurrency, 32, "concurrent notification senders");
ABSL_FLAG(int, latency_payments, 300, "payments notified one by one for the latency figures");
ABSL_FLAG(double, latency_rate, 50, "notifications per second in the latency phase");
ABSL_FLAG(int, setup_concurrency, 16,
          "concurrent CreateOrder / CreatePayment calls while preparing");
ABSL_FLAG(std::string, log_level, "info", "log level of the services");
ABSL_FLAG(int, paid_timeout_s, 120, "how long to wait for every order to be PAID");

namespace {

using namespace std::chrono_literals;
namespace t = orderly::testing;
namespace pay = orderly::payment;
// The driver plays the channel: it signs with the channel sandbox's code and keys.
namespace sbx = orderly::sandbox;
namespace ov1 = orderly::order::v1;
namespace iv1 = orderly::inventory::v1;
namespace pv1 = orderly::payment::v1;
using Clock = std::chrono::system_clock;

constexpr char kSku[] = "bench-notify-sku";
constexpr int64_t kPrice = 1990;

void Log(const std::string& line) { std::cerr << "[payment-notify] " << line << std::endl; }

// What a failed or interrupted run must not leave behind: the service processes, the databases
// and the key directory. (A normal run stops and drops them through their owners.)
struct Leftovers {
  std::mutex mu;
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  std::vector<std::string> databases;
  std::string key_dir;
};
Leftovers leftovers;

void RemoveLeftovers(bool show_logs) {
  std::lock_guard lock(leftovers.mu);
  if (show_logs) {
    for (const auto& path : leftovers.logs) {
      std::cerr << "--- " << path << "\n";
      std::system(("tail -n 15 '" + path + "' >&2").c_str());
    }
  }
  for (pid_t p : leftovers.pids) kill(p, SIGKILL);
  try {
    pqxx::connection c(t::Env("ORDERLY_PG_ADMIN_DSN"));
    pqxx::nontransaction tx(c);
    for (const auto& d : leftovers.databases)
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(d) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    Log(std::string("drop databases: ") + e.what());
  }
  if (!leftovers.key_dir.empty()) std::filesystem::remove_all(leftovers.key_dir);
}

[[noreturn]] void Die(const std::string& what) {
  Log("FAILED: " + what);
  RemoveLeftovers(/*show_logs=*/true);
  std::_Exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(what + ": " + v.status().ToString());
  return std::move(*v);
}

// SIGINT / SIGTERM are blocked in every thread; this one waits for them and cleans up.
void CleanupOnSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  Log("interrupted: stopping the services and dropping the databases");
  RemoveLeftovers(/*show_logs=*/false);
  std::_Exit(130);
}

grpc::ClientContext* Ctx(grpc::ClientContext* c, const std::string& user, const std::string& role) {
  c->AddMetadata("x-user-id", user);
  c->AddMetadata("x-user-role", role);
  c->set_deadline(Clock::now() + 30s);
  return c;
}

int64_t Count(const t::TempDatabase& db, const std::string& sql) {
  pqxx::connection c(db.dsn());
  pqxx::nontransaction tx(c);
  return tx.exec1(sql)[0].as<int64_t>();
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <typename Fn>
void ParallelFor(int n, int threads, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int k = 0; k < std::max(1, threads); ++k) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

struct Trade {
  std::string order_id, payment_id;
  int64_t amount = 0;
  std::string trade_no;
  Clock::time_point first_sent{};
  std::mutex mu;
};

class Bench {
 public:
  void Setup();
  void Prepare(int n);
  void Burst(int n);
  void Latency(int n);
  void Verify();
  void Report();
  void Teardown();

 private:
  std::string Notification(const Trade& tr, bool new_notify_id);
  // Posts until the channel would stop re-sending: an ack (200 "success") or a 4xx.
  int Send(const std::string& body);
  std::vector<double> PaidLatenciesMs(int from, int to);
  std::string StageReport();
  absl::StatusOr<std::unique_ptr<t::ServiceProcess>> Start(
      const std::string& dir, std::map<std::string, std::string> flags);

  std::string brokers_, key_dir_;
  std::optional<t::TempDatabase> inv_db_, order_db_, pay_db_;
  std::unique_ptr<t::ServiceProcess> sandbox_, inventory_, order_core_, payment_;
  std::unique_ptr<iv1::InventoryService::Stub> inv_;
  std::unique_ptr<ov1::OrderService::Stub> orders_;
  std::unique_ptr<pv1::PaymentService::Stub> payments_;
  sbx::crypto::PKey alipay_key_;
  std::vector<std::unique_ptr<Trade>> trades_;

  // results
  int burst_n_ = 0, latency_n_ = 0, posts_ = 0;
  std::atomic<int> acks_{0}, rejected_{0}, resent_{0};
  double burst_s_ = 0, burst_paid_s_ = 0;
  std::vector<double> burst_lat_, latency_lat_;
  std::map<int, std::vector<double>> stages_;  // of the last PaidLatenciesMs call
  std::string burst_stages_, latency_stages_;
  int burst_acks_ = 0;
  double latency_achieved_rate_ = 0;
  int64_t double_applied_ = 0, not_applied_ = 0;
  std::string double_detail_;
};

absl::StatusOr<std::unique_ptr<t::ServiceProcess>> Bench::Start(
    const std::string& dir, std::map<std::string, std::string> flags) {
  if (dir != "channel-sandbox") flags["kafka_brokers"] = brokers_;  // the sandbox has no Kafka
  flags["log_level"] = absl::GetFlag(FLAGS_log_level);
  auto p = t::ServiceProcess::Start(
      {t::ServiceBinary(dir), std::move(flags), std::chrono::milliseconds(60000)});
  if (p.ok()) {
    std::lock_guard lock(leftovers.mu);
    leftovers.pids.push_back((*p)->pid());
    leftovers.logs.push_back((*p)->log_path());
  }
  return p;
}

void Bench::Setup() {
  brokers_ = Must(t::KafkaBrokersFromEnv(), "ORDERLY_KAFKA_BROKERS");
  key_dir_ = std::filesystem::temp_directory_path().string() + "/orderly_notify_bench_keys_" +
             t::UniqueSuffix();
  {
    std::lock_guard lock(leftovers.mu);
    leftovers.key_dir = key_dir_;
  }
  if (auto s = sbx::EnsureSandboxKeys(key_dir_); !s.ok()) Die("sandbox keys: " + s.ToString());
  auto keys = Must(sbx::LoadSandboxKeys(key_dir_), "sandbox keys");
  alipay_key_ = Must(sbx::crypto::LoadPrivateKey(keys.alipay_platform_private), "alipay key");

  for (auto [db, prefix] :
       {std::pair{&inv_db_, "notify_bench_inv"}, std::pair{&order_db_, "notify_bench_order"},
        std::pair{&pay_db_, "notify_bench_pay"}}) {
    db->emplace(Must(t::CreateTempDatabase(prefix), "temp database"));
    std::lock_guard lock(leftovers.mu);
    leftovers.databases.push_back((*db)->name());
  }
  // Topics of this run: the shared ones would feed these fresh consumer groups everyone's history.
  const std::string order_topic = Must(t::UniqueTopic("orderly.order.v1.notify_bench", 6), "topic");
  const std::string payment_topic =
      Must(t::UniqueTopic("orderly.payment.v1.notify_bench", 6), "topic");
  const std::string fulfillment_topic =
      Must(t::UniqueTopic("orderly.fulfillment.v1.notify_bench", 1), "topic");
  // order-core reads the inventory topic (StockConfirmRefused): one of the run's own, not the
  // shared one, whose whole history a new consumer group would read first.
  const std::string inventory_topic =
      Must(t::UniqueTopic("orderly.inventory.v1.notify_bench", 6), "topic");
  const std::string run = t::UniqueSuffix();

  Log("starting orderly-channel-sandbox, orderly-inventory, orderly-order-core, orderly-payment");
  sandbox_ = Must(Start("channel-sandbox", {{"key_dir", key_dir_}}), "channel sandbox");
  inventory_ = Must(Start("inventory", {{"pg_database", inv_db_->name()},
                                        {"order_topic", order_topic},
                                        {"inventory_topic", inventory_topic},
                                        {"consumer_name", "inventory-notify-bench-" + run},
                                        {"relay_enabled", "false"}}),
                    "inventory");
  order_core_ = Must(Start("order-core", {{"pg_database", order_db_->name()},
                                          {"inventory_target", inventory_->grpc_target()},
                                          {"order_topic", order_topic},
                                          {"payment_topic", payment_topic},
                                          {"fulfillment_topic", fulfillment_topic},
                                          {"inventory_topic", inventory_topic},
                                          {"consumer_name", "order-core-notify-bench-" + run},
                                          {"normal_payment_window", "60m"}}),
                     "order-core");
  // The active query is pushed out of the way: every payment here is settled by a notification.
  payment_ = Must(Start("payment", {{"pg_database", pay_db_->name()},
                                    {"sandbox", "true"},
                                    {"channel_key_dir", key_dir_},
                                    {"channel_sandbox_url",
                                     "http://127.0.0.1:" + std::to_string(sandbox_->http_port())},
                                    {"order_core_target", order_core_->grpc_target()},
                                    {"order_topic", order_topic},
                                    {"payment_topic", payment_topic},
                                    {"consumer_name", "payment-notify-bench-" + run},
                                    {"query_interval", "30m"},
                                    {"reconciliation_at", "off"},
                                    {"breaker_min_calls", "100000"}}),
                  "payment");
  inv_ = iv1::InventoryService::NewStub(
      grpc::CreateChannel(inventory_->grpc_target(), grpc::InsecureChannelCredentials()));
  orders_ = ov1::OrderService::NewStub(
      grpc::CreateChannel(order_core_->grpc_target(), grpc::InsecureChannelCredentials()));
  payments_ = pv1::PaymentService::NewStub(
      grpc::CreateChannel(payment_->grpc_target(), grpc::InsecureChannelCredentials()));
}

void Bench::Prepare(int n) {
  Log("preparing " + std::to_string(n) +
      " orders (order-core + inventory) and their Alipay payments (payment + sandbox)");
  iv1::UpsertSkuRequest up;
  auto* sku = up.mutable_sku();
  sku->set_sku_id(kSku);
  sku->set_product_id("bench-notify-product");
  sku->set_product_name("Bench mug");
  sku->mutable_list_price()->set_amount_minor(kPrice);
  sku->mutable_list_price()->set_currency_code("CNY");
  sku->set_sale_status(iv1::SKU_SALE_STATUS_ON_SALE);
  sku->set_merchant_id("m1");
  sku->set_warehouse_id("w1");
  sku->set_stock_buckets(8);
  up.set_request_id(orderly::NewUuidV7());
  iv1::UpsertSkuResponse ur;
  grpc::ClientContext c1;
  if (auto s = orderly::FromGrpcStatus(inv_->UpsertSku(Ctx(&c1, "admin", "admin"), up, &ur));
      !s.ok())
    Die("UpsertSku: " + s.ToString());
  iv1::ReceiveStockRequest rs;
  rs.set_sku_id(kSku);
  rs.set_quantity(n);
  rs.set_request_id(orderly::NewUuidV7());
  iv1::ReceiveStockResponse rr;
  grpc::ClientContext c2;
  if (auto s = orderly::FromGrpcStatus(inv_->ReceiveStock(Ctx(&c2, "admin", "admin"), rs, &rr));
      !s.ok())
    Die("ReceiveStock: " + s.ToString());

  trades_.resize(n);
  std::atomic<int> failures{0};
  std::mutex err_mu;
  std::string first_error;
  auto fail = [&](const std::string& what, const absl::Status& s) {
    ++failures;
    std::lock_guard lock(err_mu);
    if (first_error.empty()) first_error = what + ": " + s.ToString();
  };
  const auto t0 = std::chrono::steady_clock::now();
  ParallelFor(n, absl::GetFlag(FLAGS_setup_concurrency), [&](int i) {
    auto tr = std::make_unique<Trade>();
    const std::string buyer = "bench-buyer-" + std::to_string(i % 200);
    ov1::GenerateOrderIdRequest idreq;
    idreq.set_buyer_id(buyer);
    ov1::GenerateOrderIdResponse id;
    grpc::ClientContext c0;
    if (auto s =
            orderly::FromGrpcStatus(orders_->GenerateOrderId(Ctx(&c0, buyer, "buyer"), idreq, &id));
        !s.ok())
      return fail("GenerateOrderId", s);
    ov1::CreateOrderRequest req;
    req.set_order_id(id.order_id());
    req.set_buyer_id(buyer);
    req.set_request_id(orderly::NewUuidV7());
    auto* item = req.add_items();
    item->set_sku_id(kSku);
    item->set_quantity(1);
    auto* a = req.mutable_shipping_address();
    a->set_receiver_name("Bench");
    a->set_phone("+8613800000000");
    a->set_country_code("CN");
    a->set_city("Shanghai");
    a->set_detail("1 Bench Road");
    ov1::CreateOrderResponse order;
    grpc::ClientContext c3;
    if (auto s =
            orderly::FromGrpcStatus(orders_->CreateOrder(Ctx(&c3, buyer, "buyer"), req, &order));
        !s.ok())
      return fail("CreateOrder", s);
    pv1::CreatePaymentRequest preq;
    preq.set_order_id(order.order().order_id());
    *preq.mutable_amount() = order.order().price().payable_total();
    preq.set_channel(pv1::PAYMENT_CHANNEL_ALIPAY);
    preq.set_method(pv1::PAYMENT_METHOD_NATIVE_QR);
    preq.set_request_id("bench:" + order.order().order_id());
    pv1::CreatePaymentResponse payment;
    grpc::ClientContext c4;
    if (auto s = orderly::FromGrpcStatus(
            payments_->CreatePayment(Ctx(&c4, buyer, "buyer"), preq, &payment));
        !s.ok())
      return fail("CreatePayment", s);
    tr->order_id = order.order().order_id();
    tr->payment_id = payment.payment().payment_id();
    tr->amount = payment.payment().amount().amount_minor();
    tr->trade_no = "2099" + std::to_string(1000000000 + i) + sbx::crypto::RandomToken(8);
    trades_[i] = std::move(tr);
  });
  if (failures > 0)
    Die(std::to_string(failures.load()) +
        " orders/payments could not be prepared; first: " + first_error);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Log("prepared in " + Fixed(s) + " s (" + Fixed(n / s) + " order+payment pairs/s)");
}

std::string Bench::Notification(const Trade& tr, bool new_notify_id) {
  // The sandbox's own Alipay notification (AlipayNotifyBody), signed with its Alipay key.
  const auto now = Clock::now();
  sbx::Fields p{{"notify_time", sbx::ShanghaiTime(now, "%Y-%m-%d %H:%M:%S")},
                {"notify_type", "trade_status_sync"},
                {"notify_id", new_notify_id ? sbx::crypto::RandomToken(32) : "bench" + tr.trade_no},
                {"app_id", sbx::kSandboxAlipayAppId},
                {"charset", "utf-8"},
                {"version", "1.0"},
                {"sign_type", "RSA2"},
                {"trade_no", tr.trade_no},
                {"out_trade_no", tr.payment_id},
                {"trade_status", "TRADE_SUCCESS"},
                {"total_amount", sbx::YuanText(tr.amount)},
                {"receipt_amount", sbx::YuanText(tr.amount)},
                {"gmt_create", sbx::ShanghaiTime(now, "%Y-%m-%d %H:%M:%S")},
                {"gmt_payment", sbx::ShanghaiTime(now, "%Y-%m-%d %H:%M:%S")},
                {"subject", "Bench mug"}};
  p["sign"] = Must(sbx::signatures::AlipaySignNotification(alipay_key_, p), "sign");
  return sbx::FormEncode(p);
}

int Bench::Send(const std::string& body) {
  for (int attempt = 0;; ++attempt) {
    auto r = t::HttpCall(payment_->http_port(), "POST", "/notify/alipay", body,
                         {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}});
    if (r.ok() && r->status == 200 && r->body == "success") {
      ++acks_;
      return 200;
    }
    if (r.ok() && r->status >= 400 && r->status < 500) {
      ++rejected_;
      return r->status;
    }
    // No answer or a 5xx: a channel re-sends.
    if (attempt >= 5)
      Die("notify endpoint keeps failing: " +
          (r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString()));
    ++resent_;
    std::this_thread::sleep_for(100ms * (attempt + 1));
  }
}

void Bench::Burst(int n) {
  const int dup = absl::GetFlag(FLAGS_duplicates);
  struct Post {
    int trade;
    std::string body;
  };
  std::vector<Post> posts;
  posts.reserve(static_cast<size_t>(n) * (1 + dup));
  // Signed before the clock starts: the channel's cost, not payment's.
  for (int i = 0; i < n; ++i) {
    const std::string body = Notification(*trades_[i], false);
    posts.push_back({i, body});
    for (int d = 0; d < dup; ++d)
      posts.push_back({i, d % 2 == 0 ? body : Notification(*trades_[i], true)});
  }
  std::shuffle(posts.begin(), posts.end(), std::mt19937(42));
  posts_ = static_cast<int>(posts.size());
  burst_n_ = n;
  Log("burst: " + std::to_string(posts.size()) + " signed notifications for " + std::to_string(n) +
      " payments (" + std::to_string(dup) + " extra copies each), " +
      std::to_string(absl::GetFlag(FLAGS_concurrency)) + " senders");
  const auto t0 = std::chrono::steady_clock::now();
  ParallelFor(static_cast<int>(posts.size()), absl::GetFlag(FLAGS_concurrency), [&](int k) {
    Trade& tr = *trades_[posts[k].trade];
    {
      std::lock_guard lock(tr.mu);
      if (tr.first_sent == Clock::time_point{}) tr.first_sent = Clock::now();
    }
    Send(posts[k].body);
  });
  burst_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  burst_acks_ = acks_.load();
  // Acked means applied: payment answers `success` only after its transaction committed.
  const int64_t succeeded =
      Count(*pay_db_, "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'");
  if (succeeded != n)
    Die("after the burst " + std::to_string(succeeded) + " of " + std::to_string(n) +
        " payments are SUCCEEDED");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_paid_timeout_s));
  while (Count(*order_db_, "SELECT count(*) FROM orders WHERE status = 2") < n) {
    if (std::chrono::steady_clock::now() > deadline) Die("orders not PAID in time after the burst");
    std::this_thread::sleep_for(100ms);
  }
  burst_paid_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  burst_lat_ = PaidLatenciesMs(0, n);
  burst_stages_ = StageReport();
}

void Bench::Latency(int n) {
  const int from = burst_n_;
  latency_n_ = n;
  const double rate = absl::GetFlag(FLAGS_latency_rate);
  Log("latency: " + std::to_string(n) + " payments notified at " + Fixed(rate) +
      "/s, each until its order is PAID in order-core");
  std::vector<std::string> bodies;
  for (int i = 0; i < n; ++i) bodies.push_back(Notification(*trades_[from + i], false));
  const auto t0 = std::chrono::steady_clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  // Open loop: notification i leaves at t0 + i / rate whatever happened to the earlier ones.
  ParallelFor(n, std::max(8, static_cast<int>(rate / 5)), [&](int i) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * i));
    Trade& tr = *trades_[from + i];
    tr.first_sent = Clock::now();
    Send(bodies[i]);
  });
  latency_achieved_rate_ =
      n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_paid_timeout_s));
  while (Count(*order_db_, "SELECT count(*) FROM orders WHERE status = 2") < from + n) {
    if (std::chrono::steady_clock::now() > deadline)
      Die("orders not PAID in time in the latency phase");
    std::this_thread::sleep_for(100ms);
  }
  latency_lat_ = PaidLatenciesMs(from, from + n);
  latency_stages_ = StageReport();
}

std::string Bench::StageReport() {
  auto p = [&](int k, double q) { return Fixed(Percentile(stages_[k], q)); };
  return "notification -> PaymentSucceeded written p50 " + p(0, 0.5) + " / p99 " + p(0, 0.99) +
         " ms; -> published p50 " + p(1, 0.5) + " / p99 " + p(1, 0.99) + " ms; -> paid_at p50 " +
         p(2, 0.5) + " / p99 " + p(2, 0.99) + " ms";
}

std::vector<double> Bench::PaidLatenciesMs(int from, int to) {
  std::map<std::string, Clock::time_point> sent;
  for (int i = from; i < to; ++i) sent[trades_[i]->order_id] = trades_[i]->first_sent;
  std::vector<double> out;
  pqxx::connection c(order_db_->dsn());
  pqxx::nontransaction tx(c);
  std::map<std::string, Clock::time_point> paid_at;
  // paid_at is order-core's clock when it applied PaymentSucceeded (same host as ours).
  for (const auto& row :
       tx.exec("SELECT order_id::text, (extract(epoch from paid_at) * 1000000)::bigint FROM orders "
               "WHERE status = 2 AND paid_at IS NOT NULL")) {
    auto it = sent.find(row[0].c_str());
    if (it == sent.end()) continue;
    const auto paid = Clock::time_point(std::chrono::microseconds(row[1].as<int64_t>()));
    out.push_back(std::chrono::duration<double, std::milli>(paid - it->second).count());
    paid_at[it->first] = paid;
  }
  // Where the time goes, per payment: notification -> PaymentSucceeded written with the payment
  // (payment), -> published to Kafka and acknowledged (relay), -> paid_at in order-core (consumer;
  // can be below 0: the relay marks a row published only after the broker's ack).
  std::map<std::string, const Trade*> by_payment;
  for (int i = from; i < to; ++i) by_payment[trades_[i]->payment_id] = trades_[i].get();
  pqxx::connection pc(pay_db_->dsn());
  pqxx::nontransaction ptx(pc);
  stages_.clear();
  for (const auto& row :
       ptx.exec("SELECT aggregate_id, (extract(epoch from created_at) * 1000000)::bigint, "
                "(extract(epoch from published_at) * 1000000)::bigint FROM outbox "
                "WHERE event_type = 'orderly.events.v1.PaymentSucceeded' AND published_at IS NOT "
                "NULL")) {
    auto it = by_payment.find(row[0].c_str());
    if (it == by_payment.end() || !paid_at.count(it->second->order_id)) continue;
    const auto written = Clock::time_point(std::chrono::microseconds(row[1].as<int64_t>()));
    const auto published = Clock::time_point(std::chrono::microseconds(row[2].as<int64_t>()));
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    stages_[0].push_back(ms(written - it->second->first_sent));
    stages_[1].push_back(ms(published - written));
    stages_[2].push_back(ms(paid_at[it->second->order_id] - published));
  }
  if (out.size() != static_cast<size_t>(to - from)) {
    Die("found paid_at of " + std::to_string(out.size()) + " of " + std::to_string(to - from) +
        " orders");
  }
  return out;
}

void Bench::Verify() {
  const int total = burst_n_ + latency_n_;
  // Give late duplicates and the consumers a moment: anything applied twice shows up by then.
  std::this_thread::sleep_for(2s);
  const int64_t tx_twice = Count(*pay_db_,
                                 "SELECT count(*) FROM (SELECT payment_id FROM "
                                 "payment_transactions GROUP BY 1 HAVING count(*) > 1) x");
  const int64_t ps_twice =
      Count(*pay_db_,
            "SELECT count(*) FROM (SELECT aggregate_id FROM outbox WHERE event_type = "
            "'orderly.events.v1.PaymentSucceeded' GROUP BY 1 HAVING count(*) > 1) x");
  const int64_t op_twice =
      Count(*order_db_,
            "SELECT count(*) FROM (SELECT aggregate_id FROM outbox WHERE event_type = "
            "'orderly.events.v1.OrderPaid' GROUP BY 1 HAVING count(*) > 1) x");
  const int64_t ps =
      Count(*pay_db_,
            "SELECT count(*) FROM outbox WHERE event_type = 'orderly.events.v1.PaymentSucceeded'");
  const int64_t op = Count(
      *order_db_, "SELECT count(*) FROM outbox WHERE event_type = 'orderly.events.v1.OrderPaid'");
  iv1::GetStockRequest sreq;
  sreq.add_sku_ids(kSku);
  iv1::GetStockResponse stock;
  grpc::ClientContext c1;
  if (!inv_->GetStock(Ctx(&c1, "admin", "admin"), sreq, &stock).ok() || stock.stocks_size() != 1)
    Die("GetStock");
  // Every order is one unit: more units sold than orders paid is a double confirm.
  const int64_t oversold = std::max<int64_t>(0, stock.stocks(0).sold() - total);
  iv1::CheckInvariantsRequest ireq;
  iv1::CheckInvariantsResponse inv;
  grpc::ClientContext c2;
  if (!inv_->CheckInvariants(Ctx(&c2, "admin", "admin"), ireq, &inv).ok()) Die("CheckInvariants");
  for (const auto& v : inv.violations())
    Log("stock invariant broken: " + v.sku_id() + " " + v.invariant() + ": " + v.detail());
  double_applied_ = tx_twice + ps_twice + op_twice + oversold;
  not_applied_ = (total - ps + ps_twice) + (total - op + op_twice);
  double_detail_ = "payment transactions twice " + std::to_string(tx_twice) +
                   ", PaymentSucceeded twice " + std::to_string(ps_twice) + ", OrderPaid twice " +
                   std::to_string(op_twice) + ", units sold beyond orders " +
                   std::to_string(oversold) + "; PaymentSucceeded rows " + std::to_string(ps) +
                   ", OrderPaid rows " + std::to_string(op) + ", sold " +
                   std::to_string(stock.stocks(0).sold()) + ", reserved " +
                   std::to_string(stock.stocks(0).reserved()) + ", invariant violations " +
                   std::to_string(inv.violations_size());
  if (inv.violations_size() > 0) Die("stock invariants broken");
}

void Bench::Report() {
  const double notifies_per_s = burst_n_ / burst_s_;
  std::cerr << "\nPayment notifications (payment + order-core + inventory + sandbox keys, "
               "PostgreSQL, Redis, Kafka)\n"
            << "  burst: " << burst_n_ << " payments, " << posts_ << " signed notifications ("
            << burst_acks_ << " acked, " << rejected_.load() << " rejected, " << resent_.load()
            << " re-sent after no answer) in " << Fixed(burst_s_, 2) << " s\n"
            << "         " << Fixed(notifies_per_s)
            << " payments verified+deduplicated+applied per s, " << Fixed(posts_ / burst_s_)
            << " notifications handled per s\n"
            << "         all " << burst_n_ << " orders PAID in order-core "
            << Fixed(burst_paid_s_, 2)
            << " s after the first notification; notify->PAID under the burst p50 "
            << Fixed(Percentile(burst_lat_, 0.5)) << " ms, p99 "
            << Fixed(Percentile(burst_lat_, 0.99)) << " ms\n"
            << "         " << burst_stages_ << "\n"
            << "  latency: " << latency_n_ << " payments at " << Fixed(latency_achieved_rate_)
            << "/s: notify->PAID p50 " << Fixed(Percentile(latency_lat_, 0.5)) << " ms, p99 "
            << Fixed(Percentile(latency_lat_, 0.99)) << " ms, max "
            << Fixed(Percentile(latency_lat_, 1.0)) << " ms\n"
            << "         " << latency_stages_ << "\n"
            << "  applied more than once: " << double_applied_ << " (" << double_detail_ << ")\n"
            << "  never applied: " << not_applied_ << "\n";
  std::cout << "notifies_per_s=" << Fixed(notifies_per_s) << "\n"
            << "notifications_per_s=" << Fixed(posts_ / burst_s_) << "\n"
            << "burst_notify_to_paid_p50_ms=" << Fixed(Percentile(burst_lat_, 0.5)) << "\n"
            << "burst_notify_to_paid_p99_ms=" << Fixed(Percentile(burst_lat_, 0.99)) << "\n"
            << "notify_to_paid_p50_ms=" << Fixed(Percentile(latency_lat_, 0.5)) << "\n"
            << "notify_to_paid_p99_ms=" << Fixed(Percentile(latency_lat_, 0.99)) << "\n"
            << "latency_rate=" << Fixed(latency_achieved_rate_) << "\n"
            << "double_applied=" << double_applied_ << "\n"
            << "not_applied=" << not_applied_ << "\n";
}

void Bench::Teardown() {
  for (auto* p : {&payment_, &order_core_, &inventory_, &sandbox_}) {
    if (*p) (*p)->Stop();
  }
  std::filesystem::remove_all(key_dir_);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(CleanupOnSignal).detach();

  Bench bench;
  bench.Setup();
  bench.Prepare(absl::GetFlag(FLAGS_payments) + absl::GetFlag(FLAGS_latency_payments));
  bench.Burst(absl::GetFlag(FLAGS_payments));
  bench.Latency(absl::GetFlag(FLAGS_latency_payments));
  bench.Verify();
  bench.Report();
  bench.Teardown();
  return 0;
}
