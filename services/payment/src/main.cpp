// orderly-payment: PaymentService (gRPC 17053), channel notify endpoints on the HTTP port (9103:
// POST /notify/alipay, /notify/wechatpay, /notify/unionpay), the active query, refund worker and
// daily reconciliation loops, and the orderly.order.v1 consumer.
#include <spdlog/spdlog.h>

#include "channel/crypto.hpp"
#include "channel/key_dir.hpp"
#include "orderly/core/absl_compat.hpp"
#include "orderly/events/inbox_consumer.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/runtime/service_runtime.hpp"
#include "payment_grpc_service.hpp"
#include "payment_lib_migrations.hpp"
#include "payment_workers.hpp"
#include "pg_payment_repository.hpp"

namespace {

using orderly::Config;
namespace pay = orderly::payment;

void DefineOptions(Config& c) {
  c.Define("sandbox", "false",
           "talk to orderly-channel-sandbox: keys and ids not given below come from "
           "--channel_key_dir, endpoints "
           "from --channel_sandbox_url (ORDERLY_SANDBOX=1). Without it every enabled channel needs "
           "its own settings");
  c.Define("channel_key_dir", "",
           "the channel sandbox's key directory (.local/channel-sandbox/keys); --sandbox only");
  c.Define("channel_sandbox_url", "http://127.0.0.1:9110",
           "base URL of the channel sandbox; --sandbox only");
  c.Define("notify_base_url", "",
           "base URL channels call back (default http://127.0.0.1:<http_port>)");
  c.Define("channels", "alipay,wechatpay,unionpay", "channels to enable");
  c.Define("channel_timeout", "3s", "timeout of one channel API call");
  c.Define("alipay_gateway_url", "",
           "Alipay gateway (https://openapi.alipay.com/gateway.do); with --sandbox: the sandbox");
  c.Define("alipay_app_id", "", "Alipay app id");
  c.Define("alipay_private_key_file", "", "merchant RSA2 private key (PEM)");
  c.Define("alipay_public_key_file", "", "Alipay's public key (PEM)");
  c.Define("wechatpay_base_url", "",
           "WeChat Pay v3 base (https://api.mch.weixin.qq.com); with --sandbox: the sandbox");
  c.Define("wechatpay_mchid", "", "merchant id");
  c.Define("wechatpay_appid", "", "app id");
  c.Define("wechatpay_serial_no", "", "merchant certificate serial number");
  c.Define("wechatpay_private_key_file", "", "merchant private key (PEM)");
  c.Define("wechatpay_platform_key_file", "", "platform public key or certificate (PEM)");
  c.Define("wechatpay_platform_serial", "", "platform certificate serial");
  c.Define("wechatpay_apiv3_key_file", "", "file with the 32-byte APIv3 key");
  c.Define("unionpay_base_url", "",
           "UnionPay gateway (https://gateway.95516.com); with --sandbox: the sandbox");
  c.Define("unionpay_mer_id", "", "merchant id");
  c.Define("unionpay_private_key_file", "", "merchant signing key (PEM)");
  c.Define("unionpay_cert_file", "", "merchant signing certificate (PEM)");
  c.Define("unionpay_root_cert_file", "", "trusted root for UnionPay's signing certificate (PEM)");
  c.Define("unionpay_signer_cn", "", "required CN prefix of UnionPay's signing certificate");
  c.Define("query_interval", "1m", "active query interval of a pending payment");
  c.Define("query_window", "30m", "how long a pending payment is queried");
  c.Define("refund_query_interval", "3m", "how often a timed-out refund is queried");
  c.Define("refund_retry_base", "5s", "backoff base after a failed refund call");
  c.Define("refund_max_attempts", "5", "failed refund calls before MANUAL_REVIEW");
  c.Define("breaker_failure_rate", "0.05", "channel error share that opens the breaker");
  c.Define("breaker_min_calls", "20", "calls in the window before the breaker judges");
  c.Define("breaker_window", "30s", "breaker window");
  c.Define("breaker_open_for", "10s", "how long an open breaker refuses before probing");
  c.Define("poll_tick", "1s", "how often the background loops look for due work");
  c.Define("reconciliation_at", "10:00",
           "China time after which yesterday's bills are reconciled ('off' disables)");
  c.Define("order_core_target", "127.0.0.1:17051",
           "order-core gRPC for orders not yet in the projection ('' = projection only)");
  c.Define("order_topic", "orderly.order.v1", "topic of order events");
  c.Define("consumer_enabled", "true", "consume order events");
  c.Define("consumer_name", "payment", "order-event consumer name and Kafka group id");
  c.Define("payment_topic", "orderly.payment.v1", "topic payment events are published to");
}

absl::StatusOr<std::string> KeyOr(const Config& c, const std::string& file_option,
                                  const std::string& sandbox_value) {
  const std::string path = c.Get(file_option);
  if (path.empty()) return sandbox_value;
  return pay::crypto::ReadFile(path);
}

// Without --sandbox, payment never falls back to the sandbox's keys or endpoints: a channel that is
// enabled but not fully configured stops the start, naming what is missing.
absl::Status RequireConfigured(
    const std::string& channel,
    std::initializer_list<std::pair<const char*, const std::string*>> settings) {
  std::string missing;
  for (const auto& [option, value] : settings) {
    if (value->empty()) missing += (missing.empty() ? "--" : ", --") + std::string(option);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      orderly::ToAbsl(channel + " is enabled but not configured (" + missing +
                      "); configure it, leave it out of --channels, or start with --sandbox "
                      "(ORDERLY_SANDBOX=1) to use orderly-channel-sandbox"));
}

absl::Status BuildChannels(const Config& c, pay::ChannelRegistry& reg,
                           orderly::BreakerOptions breaker, int http_port) {
  std::string notify = c.Get("notify_base_url").empty()
                           ? "http://127.0.0.1:" + std::to_string(http_port)
                           : c.Get("notify_base_url");
  const bool sandbox = c.GetBool("sandbox");
  pay::ChannelConfigs sc;
  if (sandbox) {
    if (c.Get("channel_key_dir").empty())
      return absl::FailedPreconditionError(
          "--sandbox needs --channel_key_dir (ORDERLY_CHANNEL_KEY_DIR)");
    auto loaded = pay::ChannelConfigsFromKeyDir(c.Get("channel_key_dir"),
                                                c.Get("channel_sandbox_url"), notify);
    if (!loaded.ok()) return loaded.status();
    sc = *loaded;
    spdlog::warn("payment runs against the channel sandbox at {} (--sandbox): no real money moves",
                 c.Get("channel_sandbox_url"));
  }
  auto pick = [&](const std::string& opt, const std::string& dflt) {
    return c.Get(opt).empty() ? dflt : c.Get(opt);
  };
  const std::string enabled = "," + c.Get("channels") + ",";
  auto clock = orderly::SystemClock::Shared();
  const auto timeout = c.GetDuration("channel_timeout");
  if (enabled.find(",alipay,") != std::string::npos) {
    auto a = sc.alipay;
    a.gateway_url = pick("alipay_gateway_url", a.gateway_url);
    a.app_id = pick("alipay_app_id", a.app_id);
    auto k1 = KeyOr(c, "alipay_private_key_file", a.merchant_private_key_pem);
    auto k2 = KeyOr(c, "alipay_public_key_file", a.alipay_public_key_pem);
    if (!k1.ok() || !k2.ok()) return absl::FailedPreconditionError("alipay keys unreadable");
    a.merchant_private_key_pem = *k1;
    a.alipay_public_key_pem = *k2;
    a.notify_url = notify + "/notify/alipay";
    a.timeout = timeout;
    if (auto s =
            RequireConfigured("alipay", {{"alipay_gateway_url", &a.gateway_url},
                                         {"alipay_app_id", &a.app_id},
                                         {"alipay_private_key_file", &a.merchant_private_key_pem},
                                         {"alipay_public_key_file", &a.alipay_public_key_pem}});
        !s.ok()) {
      return s;
    }
    auto ch = pay::MakeAlipayChannel(a, clock);
    if (!ch.ok()) return ch.status();
    reg.Add(std::move(*ch), breaker, clock);
  }
  if (enabled.find(",wechatpay,") != std::string::npos) {
    auto w = sc.wechat;
    w.base_url = pick("wechatpay_base_url", w.base_url);
    w.mchid = pick("wechatpay_mchid", w.mchid);
    w.appid = pick("wechatpay_appid", w.appid);
    w.merchant_serial_no = pick("wechatpay_serial_no", w.merchant_serial_no);
    w.platform_serial_no = pick("wechatpay_platform_serial", w.platform_serial_no);
    auto k1 = KeyOr(c, "wechatpay_private_key_file", w.merchant_private_key_pem);
    auto k2 = KeyOr(c, "wechatpay_platform_key_file", w.platform_public_key_pem);
    auto k3 = KeyOr(c, "wechatpay_apiv3_key_file", w.apiv3_key);
    if (!k1.ok() || !k2.ok() || !k3.ok())
      return absl::FailedPreconditionError("wechatpay keys unreadable");
    w.merchant_private_key_pem = *k1;
    w.platform_public_key_pem = *k2;
    w.apiv3_key = *k3;
    while (!w.apiv3_key.empty() && (w.apiv3_key.back() == '\n' || w.apiv3_key.back() == '\r'))
      w.apiv3_key.pop_back();
    w.notify_url = notify + "/notify/wechatpay";
    w.timeout = timeout;
    if (auto s = RequireConfigured("wechatpay",
                                   {{"wechatpay_base_url", &w.base_url},
                                    {"wechatpay_mchid", &w.mchid},
                                    {"wechatpay_appid", &w.appid},
                                    {"wechatpay_serial_no", &w.merchant_serial_no},
                                    {"wechatpay_private_key_file", &w.merchant_private_key_pem},
                                    {"wechatpay_platform_key_file", &w.platform_public_key_pem},
                                    {"wechatpay_apiv3_key_file", &w.apiv3_key}});
        !s.ok()) {
      return s;
    }
    auto ch = pay::MakeWechatPayChannel(w, clock);
    if (!ch.ok()) return ch.status();
    reg.Add(std::move(*ch), breaker, clock);
  }
  if (enabled.find(",unionpay,") != std::string::npos) {
    auto u = sc.unionpay;
    u.base_url = pick("unionpay_base_url", u.base_url);
    u.mer_id = pick("unionpay_mer_id", u.mer_id);
    u.signer_cn_prefix = pick("unionpay_signer_cn", u.signer_cn_prefix);
    auto k1 = KeyOr(c, "unionpay_private_key_file", u.merchant_private_key_pem);
    auto k2 = KeyOr(c, "unionpay_cert_file", u.merchant_cert_pem);
    auto k3 = KeyOr(c, "unionpay_root_cert_file", u.root_cert_pem);
    if (!k1.ok() || !k2.ok() || !k3.ok())
      return absl::FailedPreconditionError("unionpay keys unreadable");
    u.merchant_private_key_pem = *k1;
    u.merchant_cert_pem = *k2;
    u.root_cert_pem = *k3;
    u.notify_url = notify + "/notify/unionpay";
    u.timeout = timeout;
    if (auto s = RequireConfigured("unionpay",
                                   {{"unionpay_base_url", &u.base_url},
                                    {"unionpay_mer_id", &u.mer_id},
                                    {"unionpay_private_key_file", &u.merchant_private_key_pem},
                                    {"unionpay_cert_file", &u.merchant_cert_pem},
                                    {"unionpay_root_cert_file", &u.root_cert_pem},
                                    {"unionpay_signer_cn", &u.signer_cn_prefix}});
        !s.ok()) {
      return s;
    }
    auto ch = pay::MakeUnionPayChannel(u, clock);
    if (!ch.ok()) return ch.status();
    reg.Add(std::move(*ch), breaker, clock);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  return orderly::runtime::RunService(
      argc, argv, {"payment", 17053, 9103, "orderly_payment"},
      orderly::pg::payment_lib_migrations(), DefineOptions,
      [](orderly::runtime::ServiceRuntime& rt) -> absl::Status {
        const Config& c = rt.config();
        pay::PaymentSettings st;
        st.query_interval = c.GetDuration("query_interval");
        st.first_query_after = st.query_interval;
        st.query_window = c.GetDuration("query_window");
        st.refund_query_interval = c.GetDuration("refund_query_interval");
        st.refund_retry_base = c.GetDuration("refund_retry_base");
        st.refund_max_attempts = static_cast<int>(c.GetInt("refund_max_attempts"));
        st.refund_lease = std::max<std::chrono::milliseconds>(c.GetDuration("channel_timeout") * 4,
                                                              std::chrono::seconds(10));
        st.breaker.failure_rate = std::stod(c.Get("breaker_failure_rate"));
        st.breaker.min_calls = static_cast<int>(c.GetInt("breaker_min_calls"));
        st.breaker.window = c.GetDuration("breaker_window");
        st.breaker.open_for = c.GetDuration("breaker_open_for");
        auto& channels = rt.Own(std::make_unique<pay::ChannelRegistry>());
        if (auto s =
                BuildChannels(c, channels, st.breaker, static_cast<int>(c.GetInt("http_port")));
            !s.ok())
          return s;
        auto& repo =
            rt.Own(std::make_unique<pay::PgPaymentRepository>(rt.pool(), c.Get("payment_topic")));
        auto& orders = rt.Own(pay::MakeOrderDirectory(repo, c.Get("order_core_target")));
        auto& manager = rt.Own(std::make_unique<pay::PaymentManager>(
            repo, &rt.redis(), channels, orders, orderly::SystemClock::Shared(), st));
        auto& reconciler = rt.Own(std::make_unique<pay::Reconciler>(manager));
        rt.host().AddService(
            &rt.Own(std::make_unique<pay::PaymentGrpcService>(manager, reconciler)));
        for (auto id : channels.ids()) {
          rt.host().http().Handle("POST", "/notify/" + pay::ChannelName(id),
                                  [id, &manager](const orderly::server::HttpRequest& req) {
                                    orderly::server::HttpResponse resp;
                                    try {
                                      pay::NotifyResult r =
                                          manager.HandleNotification(id, req.body, req.headers);
                                      resp.status = r.http_status;
                                      resp.content_type = r.ack.content_type;
                                      resp.body = r.ack.body;
                                    } catch (const std::exception& e) {
                                      spdlog::error("notify endpoint: {}", e.what());
                                      resp.status = 500;
                                      resp.body = "internal error";
                                    }
                                    return resp;
                                  });
        }
        pay::WorkerOptions wo;
        wo.poll_tick = c.GetDuration("poll_tick");
        wo.reconciliation_at = c.Get("reconciliation_at");
        auto& workers = rt.Own(std::make_unique<pay::PaymentWorkers>(manager, reconciler, wo));
        workers.Start();
        rt.host().OnShutdown([&workers] { workers.Stop(); });
        if (c.GetBool("consumer_enabled")) {
          orderly::events::ConsumerOptions co;
          co.name = c.Get("consumer_name");
          co.topics = {c.Get("order_topic")};
          co.brokers = rt.brokers();
          rt.AddConsumer(co, [&repo, &manager](pqxx::transaction_base& tx,
                                               const orderly::events::v1::EventEnvelope& e) {
            pay::PgPaymentTx ptx(tx, repo.topic());
            return manager.OnOrderEvent(ptx, e);
          });
        }
        return absl::OkStatus();
      });
}
