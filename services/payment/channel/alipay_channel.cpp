// Alipay open platform style: form POST to the gateway with method + biz_content (JSON), RSA2
// (SHA256withRSA) over the sorted parameters; JSON answers {"<method>_response":{...},"sign":...}
// signed over the node text; async notifications are form bodies answered with "success".
#include "channel/channel.hpp"
#include "channel/crypto.hpp"
#include "channel/http_client.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

using wire::Params;

class AlipayChannel : public Channel {
 public:
  AlipayChannel(AlipayConfig c, crypto::KeyPtr merchant_key, crypto::KeyPtr alipay_key,
                ClockPtr clock)
      : c_(std::move(c)),
        merchant_key_(std::move(merchant_key)),
        alipay_key_(std::move(alipay_key)),
        clock_(std::move(clock)) {}

  PaymentChannel id() const override { return v1::PAYMENT_CHANNEL_ALIPAY; }

  absl::StatusOr<ChannelCreateResult> CreatePayment(const ChannelCreateRequest& req) override {
    std::string biz = wire::DumpJson(
        wire::Json{{"out_trade_no", req.out_trade_no},
                   {"total_amount", wire::FormatYuan(req.amount_minor)},
                   {"subject", req.description.empty() ? "Orderly order" : req.description},
                   {"time_expire", ChinaTime(req.expires_at, "%Y-%m-%d %H:%M:%S")}});
    auto node = Call("alipay.trade.precreate", biz, true);
    if (!node.ok()) return node.status();
    if (auto s = BusinessStatus(*node); !s.ok()) return s;
    ChannelCreateResult out;
    std::string qr = wire::JsonString(*node, "qr_code");
    if (qr.empty()) return absl::UnavailableError("alipay: precreate answered without qr_code");
    switch (req.method) {
      case v1::PAYMENT_METHOD_APP: {
        // The app SDK gets a signed order string, as alipay.trade.app.pay expects.
        Params p = BaseParams("alipay.trade.app.pay", biz, true);
        auto sig = crypto::SignSha256Rsa(merchant_key_, protocol::AlipayRequestSigningString(p));
        if (!sig.ok()) return sig.status();
        p["sign"] = *sig;
        out.app_params["orderStr"] = wire::EncodeForm(p);
        break;
      }
      case v1::PAYMENT_METHOD_H5:
      case v1::PAYMENT_METHOD_WEB: out.pay_url = qr; break;
      default: out.qr_code = qr;
    }
    return out;
  }

  absl::StatusOr<ChannelTrade> QueryPayment(const TradeRef& t) override {
    auto node = Call("alipay.trade.query",
                     wire::DumpJson(wire::Json{{"out_trade_no", t.out_trade_no}}), false);
    if (!node.ok()) return node.status();
    ChannelTrade out;
    out.out_trade_no = t.out_trade_no;
    if (wire::JsonString(*node, "code") != "10000") {
      if (wire::JsonString(*node, "sub_code") == "ACQ.TRADE_NOT_EXIST") return out;  // kNotFound
      return BusinessStatus(*node);
    }
    return TradeFromFields(wire::JsonString(*node, "trade_status"),
                           wire::JsonString(*node, "trade_no"),
                           wire::JsonString(*node, "total_amount"),
                           wire::JsonString(*node, "send_pay_date"), t.out_trade_no);
  }

  absl::Status ClosePayment(const TradeRef& t) override {
    auto node = Call("alipay.trade.close",
                     wire::DumpJson(wire::Json{{"out_trade_no", t.out_trade_no}}), false);
    if (!node.ok()) return node.status();
    if (wire::JsonString(*node, "code") == "10000") return absl::OkStatus();
    std::string sub = wire::JsonString(*node, "sub_code");
    if (sub == "ACQ.TRADE_NOT_EXIST") return absl::OkStatus();  // never opened: nothing to close
    if (sub == "ACQ.TRADE_STATUS_ERROR") return absl::FailedPreconditionError("already paid");
    return BusinessStatus(*node);
  }

  absl::StatusOr<ChannelRefund> Refund(const ChannelRefundRequest& r) override {
    std::string biz = wire::DumpJson(wire::Json{{"out_trade_no", r.trade.out_trade_no},
                                                {"refund_amount", wire::FormatYuan(r.amount_minor)},
                                                {"out_request_no", r.out_refund_no},
                                                {"refund_reason", r.reason}});
    auto node = Call("alipay.trade.refund", biz, false);
    if (!node.ok()) return node.status();
    if (auto s = BusinessStatus(*node); !s.ok()) return s;
    ChannelRefund out;
    out.out_trade_no = r.trade.out_trade_no;
    out.out_refund_no = r.out_refund_no;
    out.amount_minor = r.amount_minor;
    // fund_change=Y: money moved by this call; N on a repeated out_request_no already refunded.
    out.state = RefundState::kSucceeded;
    out.channel_refund_id = wire::JsonString(*node, "trade_no") + ":" + r.out_refund_no;
    return out;
  }

  absl::StatusOr<ChannelRefund> QueryRefund(const ChannelRefundRequest& r) override {
    std::string biz = wire::DumpJson(
        wire::Json{{"out_trade_no", r.trade.out_trade_no}, {"out_request_no", r.out_refund_no}});
    auto node = Call("alipay.trade.fastpay.refund.query", biz, false);
    if (!node.ok()) return node.status();
    if (auto s = BusinessStatus(*node); !s.ok()) return s;
    ChannelRefund out;
    out.out_trade_no = r.trade.out_trade_no;
    out.out_refund_no = r.out_refund_no;
    // An empty answer means Alipay has no such refund (it never arrived).
    if (wire::JsonString(*node, "refund_status") == "REFUND_SUCCESS") {
      out.state = RefundState::kSucceeded;
      auto amount = wire::ParseYuan(wire::JsonString(*node, "refund_amount"));
      out.amount_minor = amount.ok() ? *amount : r.amount_minor;
      out.channel_refund_id = wire::JsonString(*node, "trade_no") + ":" + r.out_refund_no;
    }
    return out;
  }

  absl::StatusOr<std::vector<BillRecord>> DownloadBill(const std::string& bill_date) override {
    auto node =
        Call("alipay.data.dataservice.bill.downloadurl.query",
             wire::DumpJson(wire::Json{{"bill_type", "trade"}, {"bill_date", bill_date}}), false);
    if (!node.ok()) return node.status();
    if (auto s = BusinessStatus(*node); !s.ok()) return s;
    HttpClientRequest get;
    get.url = wire::JsonString(*node, "bill_download_url");
    get.timeout = c_.timeout * 5;
    auto resp = HttpFetch(get);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) return absl::UnavailableError("alipay: bill download failed");
    return ParseBillCsv(resp->body);
  }

  absl::StatusOr<ChannelNotification> ParseNotification(
      const std::string& body, const std::map<std::string, std::string>& headers) override {
    auto form = wire::ParseFormStrict(body);
    if (!form.ok())
      return absl::InvalidArgumentError(
          ToAbsl("alipay notify: unreadable body (" + std::string(form.status().message()) + ")"));
    auto sig = form->find("sign");
    if (sig == form->end() ||
        !crypto::VerifySha256Rsa(alipay_key_, protocol::AlipayNotifySigningString(*form),
                                 sig->second)) {
      return absl::UnauthenticatedError("alipay notify: RSA2 signature does not verify");
    }
    Params& p = *form;
    if (p["app_id"] != c_.app_id)
      return absl::InvalidArgumentError("alipay notify: app_id is not ours");
    if (p["notify_type"] != "trade_status_sync")
      return absl::InvalidArgumentError("alipay notify: unknown notify_type");
    if (p["out_trade_no"].empty() || p["notify_id"].empty()) {
      return absl::InvalidArgumentError("alipay notify: out_trade_no / notify_id missing");
    }
    auto trade = TradeFromFields(p["trade_status"], p["trade_no"], p["total_amount"],
                                 p["gmt_payment"], p["out_trade_no"]);
    if (!trade.ok())
      return absl::InvalidArgumentError(
          ToAbsl("alipay notify: " + std::string(trade.status().message())));
    ChannelNotification n;
    n.notify_id = p["notify_id"];
    n.trade = std::move(*trade);
    return n;
  }

  NotifyAck Ack(bool ok, const std::string&) const override {
    return NotifyAck{200, "text/plain", ok ? "success" : "failure"};
  }

 private:
  Params BaseParams(const std::string& method, const std::string& biz, bool with_notify) const {
    Params p{{"app_id", c_.app_id}, {"method", method},
             {"format", "JSON"},    {"charset", "utf-8"},
             {"sign_type", "RSA2"}, {"timestamp", ChinaTime(clock_->Now(), "%Y-%m-%d %H:%M:%S")},
             {"version", "1.0"},    {"biz_content", biz}};
    if (with_notify) p["notify_url"] = c_.notify_url;
    return p;
  }

  // Posts the request and returns the verified response node.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& biz,
                                      bool with_notify) {
    Params p = BaseParams(method, biz, with_notify);
    auto sig = crypto::SignSha256Rsa(merchant_key_, protocol::AlipayRequestSigningString(p));
    if (!sig.ok()) return sig.status();
    p["sign"] = *sig;
    HttpClientRequest req;
    req.method = "POST";
    req.url = c_.gateway_url;
    req.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8";
    req.body = wire::EncodeForm(p);
    req.timeout = c_.timeout;
    auto resp = HttpFetch(req);
    if (!resp.ok()) return resp.status();
    if (resp->status >= 500)
      return absl::UnavailableError(ToAbsl("alipay: HTTP " + std::to_string(resp->status)));
    const std::string key = protocol::AlipayResponseKey(method);
    auto doc = wire::ParseJsonObject(resp->body);
    auto node_text = wire::RawJsonMember(resp->body, key);
    if (!doc.ok() || !node_text || !(*doc)[key].is_object() || !(*doc)["sign"].is_string()) {
      return absl::UnavailableError("alipay: malformed response");
    }
    // Signed over the node's bytes as sent, not over a re-serialization.
    if (!crypto::VerifySha256Rsa(alipay_key_, *node_text, (*doc)["sign"].get<std::string>())) {
      return absl::UnauthenticatedError("alipay: response signature does not verify");
    }
    return std::move((*doc)[key]);
  }

  static absl::Status BusinessStatus(const nlohmann::json& node) {
    std::string code = wire::JsonString(node, "code");
    if (code == "10000") return absl::OkStatus();
    std::string msg = "alipay " + code + " " + wire::JsonString(node, "sub_code") + ": " +
                      wire::JsonString(node, "sub_msg");
    if (code == "20000" || wire::JsonString(node, "sub_code") == "ACQ.SYSTEM_ERROR")
      return absl::UnavailableError(ToAbsl(msg));
    return absl::FailedPreconditionError(ToAbsl(msg));
  }

  static absl::StatusOr<ChannelTrade> TradeFromFields(const std::string& status,
                                                      const std::string& trade_no,
                                                      const std::string& total,
                                                      const std::string& paid_time,
                                                      const std::string& out_trade_no) {
    ChannelTrade t;
    t.out_trade_no = out_trade_no;
    t.transaction_id = trade_no;
    t.currency = "CNY";
    auto amount = wire::ParseYuan(total);
    if (!amount.ok()) return amount.status();
    t.amount_minor = *amount;
    if (status == "TRADE_SUCCESS" || status == "TRADE_FINISHED") {
      if (trade_no.empty()) return absl::InvalidArgumentError("success without trade_no");
      t.state = TradeState::kSucceeded;
      t.paid_at = ParseChinaTime(paid_time, "%Y-%m-%d %H:%M:%S");
    } else if (status == "WAIT_BUYER_PAY") {
      t.state = TradeState::kPending;
    } else if (status == "TRADE_CLOSED") {
      t.state = TradeState::kClosed;
    } else {
      return absl::InvalidArgumentError("unknown trade_status");
    }
    return t;
  }

  AlipayConfig c_;
  crypto::KeyPtr merchant_key_;
  crypto::KeyPtr alipay_key_;
  ClockPtr clock_;
};

}  // namespace

absl::StatusOr<ChannelPtr> MakeAlipayChannel(AlipayConfig config, ClockPtr clock) {
  auto mk = crypto::PrivateKeyFromPem(config.merchant_private_key_pem);
  if (!mk.ok())
    return absl::InvalidArgumentError(
        ToAbsl("alipay merchant key: " + std::string(mk.status().message())));
  auto ak = crypto::PublicKeyFromPem(config.alipay_public_key_pem);
  if (!ak.ok())
    return absl::InvalidArgumentError(
        ToAbsl("alipay public key: " + std::string(ak.status().message())));
  return ChannelPtr(new AlipayChannel(std::move(config), *mk, *ak, std::move(clock)));
}

}  // namespace orderly::payment
