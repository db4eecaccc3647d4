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
#include "channel/key_dir.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

using wire::Json;

std::string Failure(const absl::Status& s) {
  return wire::DumpJson(Json{{"ok", false},
                             {"code", absl::StatusCodeToString(s.code())},
                             {"message", std::string(s.message())}});
}

Json TradeJson(const ChannelTrade& t) {
  return Json{{"ok", true},
              {"state", TradeStateName(t.state)},
              {"out_trade_no", t.out_trade_no},
              {"transaction_id", t.transaction_id},
              {"amount_minor", t.amount_minor}};
}

Json RefundJson(const ChannelRefund& r) {
  return Json{{"ok", true},
              {"state", RefundStateName(r.state)},
              {"out_refund_no", r.out_refund_no},
              {"amount_minor", r.amount_minor}};
}

std::string Run(Channel& ch, const std::string& op, const std::string& out_trade_no,
                int64_t amount) {
  auto now = std::chrono::system_clock::now();
  TradeRef ref{out_trade_no, "", amount, "CNY", now};
  if (op == "create-app" || op == "create-qr") {
    ChannelCreateRequest req{
        out_trade_no,
        amount,
        "CNY",
        "Orderly probe & test",
        op == "create-app" ? v1::PAYMENT_METHOD_APP : v1::PAYMENT_METHOD_NATIVE_QR,
        now,
        now + std::chrono::minutes(15)};
    auto r = ch.CreatePayment(req);
    if (!r.ok()) return Failure(r.status());
    return wire::DumpJson(Json{{"ok", true},
                               {"pay_url", r->pay_url},
                               {"qr_code", r->qr_code},
                               {"app_params", r->app_params}});
  }
  if (op == "query") {
    auto t = ch.QueryPayment(ref);
    return t.ok() ? wire::DumpJson(TradeJson(*t)) : Failure(t.status());
  }
  if (op == "close") {
    auto s = ch.ClosePayment(ref);
    return s.ok() ? wire::DumpJson(Json{{"ok", true}}) : Failure(s);
  }
  if (op == "refund") {
    auto r =
        ch.Refund(ChannelRefundRequest{ref, out_trade_no + "-r1", amount, "probe refund", now});
    return r.ok() ? wire::DumpJson(RefundJson(*r)) : Failure(r.status());
  }
  return Failure(absl::InvalidArgumentError(ToAbsl("unknown op " + op)));
}

std::string Notify(Channel& ch, const std::string& body,
                   const std::map<std::string, std::string>& headers) {
  auto n = ch.ParseNotification(body, headers);
  if (!n.ok()) return Failure(n.status());
  if (n->kind == ChannelNotification::Kind::kRefund) {
    return wire::DumpJson(
        Json{{"ok", true}, {"notify_id", n->notify_id}, {"refund", RefundJson(n->refund)}});
  }
  return wire::DumpJson(
      Json{{"ok", true}, {"notify_id", n->notify_id}, {"trade", TradeJson(n->trade)}});
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
  auto configs =
      ChannelConfigsFromKeyDir(argv[2], "http://127.0.0.1:1", "http://127.0.0.1:2/probe");
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
  if (!json.ok() || !(*json)["headers"].is_object()) {
    std::cerr << "wechat-notify: stdin is not {\"headers\":{...},\"body\":\"...\"}\n";
    return 2;
  }
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : (*json)["headers"].items())
    headers[k] = v.is_string() ? v.get<std::string>() : "";
  std::cout << Notify(**ch, wire::JsonString(*json, "body"), headers) << "\n";
  return 0;
}

}  // namespace
}  // namespace orderly::payment

int main(int argc, char** argv) { return orderly::payment::Main(argc, argv); }
