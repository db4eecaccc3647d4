// orderly-channel-probe: runs one operation of a payment channel adapter (the product code in
// services/payment/channel) and prints the outcome as one JSON line, so that the SDK tests in this
// folder can check with the channels' own SDKs what the adapters send and what they accept.
//
//   orderly-channel-probe alipay-call KEY_DIR GATEWAY_URL OP OUT_TRADE_NO AMOUNT_MINOR
//   orderly-channel-probe wechat-call KEY_DIR BASE_URL OP OUT_TRADE_NO AMOUNT_MINOR
//       OP: create-app | create-qr | query | close | refund
//   orderly-channel-probe alipay-notify KEY_DIR    < form body
//   orderly-channel-probe wechat-notify KEY_DIR    < {"headers": {...lower-case...}, "body": "..."}
//
// Prints {"ok":true,...} or {"ok":false,"code":"UNAUTHENTICATED","message":"..."}; exit 0 either
// way, 2 on a usage or setup error.
#include <chrono>
#include <iostream>
#include <iterator>
#include <string>

#include "channel/channel.hpp"
#include "channel/sandbox_keys.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

using wire::JsonObject;

std::string Failure(const absl::Status& s) {
  return JsonObject().Raw("ok", "false").Str("code", absl::StatusCodeToString(s.code()))
      .Str("message", std::string(s.message())).Build();
}

std::string TradeJson(const ChannelTrade& t) {
  return JsonObject().Raw("ok", "true").Str("state", TradeStateName(t.state)).Str("out_trade_no", t.out_trade_no)
      .Str("transaction_id", t.transaction_id).Int("amount_minor", t.amount_minor).Build();
}

std::string RefundJson(const ChannelRefund& r) {
  return JsonObject().Raw("ok", "true").Str("state", RefundStateName(r.state)).Str("out_refund_no", r.out_refund_no)
      .Int("amount_minor", r.amount_minor).Build();
}

std::string Run(Channel& ch, const std::string& op, const std::string& out_trade_no, int64_t amount) {
  auto now = std::chrono::system_clock::now();
  TradeRef ref{out_trade_no, "", amount, "CNY", now};
  if (op == "create-app" || op == "create-qr") {
    ChannelCreateRequest req{out_trade_no, amount, "CNY", "Orderly probe & test",
                             op == "create-app" ? v1::PAYMENT_METHOD_APP : v1::PAYMENT_METHOD_NATIVE_QR, now,
                             now + std::chrono::minutes(15)};
    auto r = ch.CreatePayment(req);
    if (!r.ok()) return Failure(r.status());
    JsonObject app;
    for (const auto& [k, v] : r->app_params) app.Str(k, v);
    return JsonObject().Raw("ok", "true").Str("pay_url", r->pay_url).Str("qr_code", r->qr_code)
        .Raw("app_params", app.Build()).Build();
  }
  if (op == "query") {
    auto t = ch.QueryPayment(ref);
    return t.ok() ? TradeJson(*t) : Failure(t.status());
  }
  if (op == "close") {
    auto s = ch.ClosePayment(ref);
    return s.ok() ? JsonObject().Raw("ok", "true").Build() : Failure(s);
  }
  if (op == "refund") {
    auto r = ch.Refund(ChannelRefundRequest{ref, out_trade_no + "-r1", amount, "probe refund", now});
    return r.ok() ? RefundJson(*r) : Failure(r.status());
  }
  return Failure(absl::InvalidArgumentError(ToAbsl("unknown op " + op)));
}

std::string Notify(Channel& ch, const std::string& body, const std::map<std::string, std::string>& headers) {
  auto n = ch.ParseNotification(body, headers);
  if (!n.ok()) return Failure(n.status());
  if (n->kind == ChannelNotification::Kind::kRefund) {
    return JsonObject().Raw("ok", "true").Str("notify_id", n->notify_id).Raw("refund", RefundJson(n->refund)).Build();
  }
  return JsonObject().Raw("ok", "true").Str("notify_id", n->notify_id).Raw("trade", TradeJson(n->trade)).Build();
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: see the head of services/payment/tests/sdk/channel_probe.cpp\n";
    return 2;
  }
  const std::string cmd = argv[1];
  const bool call = cmd == "alipay-call" || cmd == "wechat-call";
  if (call && argc != 7) {
    std::cerr << cmd << " KEY_DIR URL OP OUT_TRADE_NO AMOUNT_MINOR\n";
    return 2;
  }
  auto configs = SandboxConfigs(argv[2], "http://127.0.0.1:1", "http://127.0.0.1:2/probe");
  if (!configs.ok()) {
    std::cerr << configs.status() << "\n";
    return 2;
  }
  ClockPtr clock = SystemClock::Shared();
  absl::StatusOr<ChannelPtr> ch = absl::InvalidArgumentError("unknown command");
  if (cmd.rfind("alipay-", 0) == 0) {
    if (call) configs->alipay.gateway_url = argv[3];
    ch = MakeAlipayChannel(configs->alipay, clock);
  } else if (cmd.rfind("wechat-", 0) == 0) {
    if (call) configs->wechat.base_url = argv[3];
    ch = MakeWechatPayChannel(configs->wechat, clock);
  }
  if (!ch.ok()) {
    std::cerr << cmd << ": " << ch.status() << "\n";
    return 2;
  }
  if (call) {
    auto amount = wire::ParseInt64(argv[6]);
    if (!amount.ok()) {
      std::cerr << "AMOUNT_MINOR: " << amount.status() << "\n";
      return 2;
    }
    std::cout << Run(**ch, argv[4], argv[5], *amount) << "\n";
    return 0;
  }
  std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (cmd == "alipay-notify") {
    std::cout << Notify(**ch, in, {}) << "\n";
    return 0;
  }
  auto json = wire::ParseJsonObject(in);
  if (!json.ok()) {
    std::cerr << "wechat-notify: stdin is not {\"headers\":{...},\"body\":\"...\"}\n";
    return 2;
  }
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : json->fields().at("headers").struct_value().fields()) headers[k] = v.string_value();
  std::cout << Notify(**ch, wire::JsonString(*json, "body"), headers) << "\n";
  return 0;
}

}  // namespace
}  // namespace orderly::payment

int main(int argc, char** argv) { return orderly::payment::Main(argc, argv); }
