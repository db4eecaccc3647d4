// WeChat Pay API v3 style: REST + JSON, requests signed with the merchant key in the
// Authorization header (WECHATPAY2-SHA256-RSA2048), answers and notifications signed by the
// platform key in Wechatpay-* headers; notifications carry an AES-256-GCM encrypted resource
// (APIv3 key) and are acknowledged with 204 / an error JSON.
#include <cstdlib>

#include "channel/channel.hpp"
#include "channel/crypto.hpp"
#include "channel/http_client.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

class WechatPayChannel : public Channel {
 public:
  WechatPayChannel(WechatPayConfig c, crypto::KeyPtr merchant_key, crypto::KeyPtr platform_key,
                   ClockPtr clock)
      : c_(std::move(c)),
        merchant_key_(std::move(merchant_key)),
        platform_key_(std::move(platform_key)),
        clock_(std::move(clock)) {}

  PaymentChannel id() const override { return v1::PAYMENT_CHANNEL_WECHAT_PAY; }

  absl::StatusOr<ChannelCreateResult> CreatePayment(const ChannelCreateRequest& req) override {
    std::string kind = req.method == v1::PAYMENT_METHOD_APP  ? "app"
                       : req.method == v1::PAYMENT_METHOD_H5 ? "h5"
                                                             : "native";
    std::string body = wire::DumpJson(wire::Json{
        {"appid", c_.appid},
        {"mchid", c_.mchid},
        {"description", req.description.empty() ? "Orderly order" : req.description},
        {"out_trade_no", req.out_trade_no},
        {"time_expire", ChinaTime(req.expires_at, "%Y-%m-%dT%H:%M:%S+08:00")},
        {"notify_url", c_.notify_url},
        {"amount", wire::Json{{"total", req.amount_minor}, {"currency", req.currency}}}});
    auto resp = Call("POST", "/v3/pay/transactions/" + kind, body);
    if (!resp.ok()) return resp.status();
    if (auto s = ErrorOf(*resp); !s.ok()) return s;
    auto json = wire::ParseJsonObject(resp->body);
    if (!json.ok()) return absl::UnavailableError("wechatpay: malformed answer");
    ChannelCreateResult out;
    if (kind == "native") {
      out.qr_code = wire::JsonString(*json, "code_url");
      if (req.method == v1::PAYMENT_METHOD_WEB) out.pay_url = out.qr_code, out.qr_code.clear();
    } else if (kind == "h5") {
      out.pay_url = wire::JsonString(*json, "h5_url");
    } else {
      std::string prepay = wire::JsonString(*json, "prepay_id");
      std::string ts = std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch())
              .count());
      std::string nonce = crypto::RandomAlnum(32);
      auto sig = crypto::SignSha256Rsa(merchant_key_,
                                       c_.appid + "\n" + ts + "\n" + nonce + "\n" + prepay + "\n");
      if (!sig.ok()) return sig.status();
      out.app_params = {{"appid", c_.appid},  {"partnerid", c_.mchid},
                        {"prepayid", prepay}, {"package", "Sign=WXPay"},
                        {"noncestr", nonce},  {"timestamp", ts},
                        {"sign", *sig}};
    }
    if (out.qr_code.empty() && out.pay_url.empty() && out.app_params.empty()) {
      return absl::UnavailableError("wechatpay: answer without payment link");
    }
    return out;
  }

  absl::StatusOr<ChannelTrade> QueryPayment(const TradeRef& t) override {
    auto resp = Call("GET",
                     "/v3/pay/transactions/out-trade-no/" + wire::UrlEncode(t.out_trade_no) +
                         "?mchid=" + c_.mchid,
                     "");
    if (!resp.ok()) return resp.status();
    ChannelTrade out;
    out.out_trade_no = t.out_trade_no;
    if (resp->status == 404) return out;
    if (auto s = ErrorOf(*resp); !s.ok()) return s;
    auto json = wire::ParseJsonObject(resp->body);
    if (!json.ok()) return absl::UnavailableError("wechatpay: malformed answer");
    return TradeFromJson(*json);
  }

  absl::Status ClosePayment(const TradeRef& t) override {
    auto resp = Call(
        "POST", "/v3/pay/transactions/out-trade-no/" + wire::UrlEncode(t.out_trade_no) + "/close",
        wire::DumpJson(wire::Json{{"mchid", c_.mchid}}));
    if (!resp.ok()) return resp.status();
    if (resp->status == 204 || resp->status == 200 || resp->status == 404) return absl::OkStatus();
    auto json = wire::ParseJsonObject(resp->body);
    if (json.ok() && wire::JsonString(*json, "code") == "ORDERPAID")
      return absl::FailedPreconditionError("already paid");
    return ErrorOf(*resp);
  }

  absl::StatusOr<ChannelRefund> Refund(const ChannelRefundRequest& r) override {
    std::string body =
        wire::DumpJson(wire::Json{{"out_trade_no", r.trade.out_trade_no},
                                  {"out_refund_no", r.out_refund_no},
                                  {"reason", r.reason},
                                  {"notify_url", c_.notify_url},
                                  {"amount", wire::Json{{"refund", r.amount_minor},
                                                        {"total", r.trade.amount_minor},
                                                        {"currency", r.trade.currency}}}});
    auto resp = Call("POST", "/v3/refund/domestic/refunds", body);
    if (!resp.ok()) return resp.status();
    if (auto s = ErrorOf(*resp); !s.ok()) return s;
    auto json = wire::ParseJsonObject(resp->body);
    if (!json.ok()) return absl::UnavailableError("wechatpay: malformed answer");
    return RefundFromJson(*json);
  }

  absl::StatusOr<ChannelRefund> QueryRefund(const ChannelRefundRequest& r) override {
    auto resp = Call("GET", "/v3/refund/domestic/refunds/" + wire::UrlEncode(r.out_refund_no), "");
    if (!resp.ok()) return resp.status();
    if (resp->status == 404) {
      ChannelRefund out;
      out.out_refund_no = r.out_refund_no;
      return out;
    }
    if (auto s = ErrorOf(*resp); !s.ok()) return s;
    auto json = wire::ParseJsonObject(resp->body);
    if (!json.ok()) return absl::UnavailableError("wechatpay: malformed answer");
    return RefundFromJson(*json);
  }

  absl::StatusOr<std::vector<BillRecord>> DownloadBill(const std::string& bill_date) override {
    auto resp = Call("GET", "/v3/bill/tradebill?bill_date=" + bill_date, "");
    if (!resp.ok()) return resp.status();
    if (auto s = ErrorOf(*resp); !s.ok()) return s;
    auto json = wire::ParseJsonObject(resp->body);
    if (!json.ok()) return absl::UnavailableError("wechatpay: malformed answer");
    HttpClientRequest get;
    get.url = wire::JsonString(*json, "download_url");
    get.timeout = c_.timeout * 5;
    auto file = HttpFetch(get);
    if (!file.ok()) return file.status();
    if (file->status != 200) return absl::UnavailableError("wechatpay: bill download failed");
    // The download itself is not signed; its SHA1 is, in the signed answer above.
    if (crypto::Sha1Hex(file->body) != wire::JsonString(*json, "hash_value")) {
      return absl::DataLossError("wechatpay: bill hash mismatch");
    }
    return ParseBillCsv(file->body);
  }

  absl::StatusOr<ChannelNotification> ParseNotification(
      const std::string& body, const std::map<std::string, std::string>& headers) override {
    auto h = [&](const char* k) {
      auto it = headers.find(k);
      return it == headers.end() ? std::string() : it->second;
    };
    if (auto s = VerifyPlatformSignature(h("wechatpay-timestamp"), h("wechatpay-nonce"),
                                         h("wechatpay-signature"), h("wechatpay-serial"), body);
        !s.ok()) {
      return s;
    }
    auto json = wire::ParseJsonObject(body);
    if (!json.ok()) return absl::InvalidArgumentError("wechatpay notify: body is not JSON");
    std::string event = wire::JsonString(*json, "event_type");
    if (wire::JsonString(*json, "resource.algorithm") != "AEAD_AES_256_GCM") {
      return absl::InvalidArgumentError("wechatpay notify: unsupported resource algorithm");
    }
    auto ct = crypto::Base64Decode(wire::JsonString(*json, "resource.ciphertext"));
    if (!ct.ok()) return absl::InvalidArgumentError("wechatpay notify: ciphertext is not Base64");
    auto plain = crypto::AesGcmDecrypt(c_.apiv3_key, wire::JsonString(*json, "resource.nonce"),
                                       wire::JsonString(*json, "resource.associated_data"), *ct);
    if (!plain.ok())
      return absl::UnauthenticatedError(
          "wechatpay notify: resource does not decrypt with the APIv3 key");
    auto res = wire::ParseJsonObject(*plain);
    if (!res.ok()) return absl::InvalidArgumentError("wechatpay notify: resource is not JSON");
    ChannelNotification n;
    n.notify_id = wire::JsonString(*json, "id");
    if (n.notify_id.empty()) return absl::InvalidArgumentError("wechatpay notify: id missing");
    if (event.rfind("TRANSACTION.", 0) == 0) {
      if (wire::JsonString(*res, "mchid") != c_.mchid)
        return absl::InvalidArgumentError("wechatpay notify: mchid is not ours");
      auto t = TradeFromJson(*res);
      if (!t.ok())
        return absl::InvalidArgumentError(
            ToAbsl("wechatpay notify: " + std::string(t.status().message())));
      n.trade = std::move(*t);
    } else if (event.rfind("REFUND.", 0) == 0) {
      n.kind = ChannelNotification::Kind::kRefund;
      auto r = RefundFromJson(*res);
      if (!r.ok())
        return absl::InvalidArgumentError(
            ToAbsl("wechatpay notify: " + std::string(r.status().message())));
      n.refund = std::move(*r);
    } else {
      return absl::InvalidArgumentError("wechatpay notify: unknown event_type");
    }
    return n;
  }

  NotifyAck Ack(bool ok, const std::string& message) const override {
    if (ok) return NotifyAck{204, "application/json", ""};
    return NotifyAck{500, "application/json",
                     wire::DumpJson(wire::Json{{"code", "FAIL"}, {"message", message}})};
  }

 private:
  absl::Status VerifyPlatformSignature(const std::string& ts, const std::string& nonce,
                                       const std::string& sig, const std::string& serial,
                                       const std::string& body) const {
    if (ts.empty() || nonce.empty() || sig.empty()) {
      return absl::UnauthenticatedError(
          "wechatpay: Wechatpay-Timestamp/Nonce/Signature headers missing");
    }
    if (!c_.platform_serial_no.empty() && serial != c_.platform_serial_no) {
      return absl::UnauthenticatedError("wechatpay: unknown platform certificate serial");
    }
    // A replayed (old) message is refused even when its signature is good.
    char* end = nullptr;
    long long secs = std::strtoll(ts.c_str(), &end, 10);
    long long now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
    if (end == ts.c_str() || *end != '\0' || std::llabs(now - secs) > c_.max_clock_skew.count()) {
      return absl::UnauthenticatedError("wechatpay: timestamp outside the allowed clock skew");
    }
    if (!crypto::VerifySha256Rsa(platform_key_, protocol::WechatResponseMessage(ts, nonce, body),
                                 sig)) {
      return absl::UnauthenticatedError("wechatpay: platform signature does not verify");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<HttpClientResponse> Call(const std::string& method, const std::string& target,
                                          const std::string& body) {
    auto url = ParseUrl(c_.base_url + target);
    if (!url.ok()) return url.status();
    std::string ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count());
    std::string nonce = crypto::RandomAlnum(32);
    auto sig = crypto::SignSha256Rsa(
        merchant_key_, protocol::WechatRequestMessage(method, url->target, ts, nonce, body));
    if (!sig.ok()) return sig.status();
    HttpClientRequest req;
    req.method = method;
    req.url = c_.base_url + target;
    req.headers["Authorization"] =
        protocol::WechatAuthorization(c_.mchid, c_.merchant_serial_no, nonce, ts, *sig);
    req.headers["Accept"] = "application/json";
    if (!body.empty()) req.headers["Content-Type"] = "application/json";
    req.body = body;
    req.timeout = c_.timeout;
    auto resp = HttpFetch(req);
    if (!resp.ok()) return resp.status();
    if (resp->status >= 500)
      return absl::UnavailableError(ToAbsl("wechatpay: HTTP " + std::to_string(resp->status) + " " +
                                           resp->body.substr(0, 200)));
    if (resp->status < 300) {
      if (auto s = VerifyPlatformSignature(
              resp->Header("wechatpay-timestamp"), resp->Header("wechatpay-nonce"),
              resp->Header("wechatpay-signature"), resp->Header("wechatpay-serial"), resp->body);
          !s.ok()) {
        return s;
      }
    }
    return resp;
  }

  static absl::Status ErrorOf(const HttpClientResponse& r) {
    if (r.status >= 200 && r.status < 300) return absl::OkStatus();
    auto json = wire::ParseJsonObject(r.body);
    std::string code = json.ok() ? wire::JsonString(*json, "code") : "";
    std::string msg = "wechatpay HTTP " + std::to_string(r.status) + " " + code + ": " +
                      (json.ok() ? wire::JsonString(*json, "message") : r.body.substr(0, 200));
    if (code == "SYSTEM_ERROR" || code == "FREQUENCY_LIMITED" || r.status == 429)
      return absl::UnavailableError(ToAbsl(msg));
    return absl::FailedPreconditionError(ToAbsl(msg));
  }

  static absl::StatusOr<ChannelTrade> TradeFromJson(const nlohmann::json& j) {
    ChannelTrade t;
    t.out_trade_no = wire::JsonString(j, "out_trade_no");
    t.transaction_id = wire::JsonString(j, "transaction_id");
    auto total = wire::JsonInt(j, "amount.total");
    if (t.out_trade_no.empty() || !total)
      return absl::InvalidArgumentError("out_trade_no / amount.total missing");
    t.amount_minor = *total;
    t.currency = wire::JsonString(j, "amount.currency");
    std::string state = wire::JsonString(j, "trade_state");
    if (state == "SUCCESS" || state == "REFUND") {
      if (t.transaction_id.empty())
        return absl::InvalidArgumentError("success without transaction_id");
      t.state = TradeState::kSucceeded;
      t.paid_at = ParseChinaTime(wire::JsonString(j, "success_time"), "%Y-%m-%dT%H:%M:%S");
    } else if (state == "NOTPAY" || state == "USERPAYING") {
      t.state = TradeState::kPending;
    } else if (state == "CLOSED" || state == "REVOKED") {
      t.state = TradeState::kClosed;
    } else if (state == "PAYERROR") {
      t.state = TradeState::kFailed;
      t.failure = wire::JsonString(j, "trade_state_desc");
    } else {
      return absl::InvalidArgumentError("unknown trade_state");
    }
    return t;
  }

  static absl::StatusOr<ChannelRefund> RefundFromJson(const nlohmann::json& j) {
    ChannelRefund r;
    r.out_trade_no = wire::JsonString(j, "out_trade_no");
    r.out_refund_no = wire::JsonString(j, "out_refund_no");
    r.channel_refund_id = wire::JsonString(j, "refund_id");
    auto amount = wire::JsonInt(j, "amount.refund");
    if (r.out_refund_no.empty() || !amount)
      return absl::InvalidArgumentError("out_refund_no / amount.refund missing");
    r.amount_minor = *amount;
    std::string st = wire::JsonString(j, "status");
    if (st.empty()) st = wire::JsonString(j, "refund_status");
    if (st == "SUCCESS")
      r.state = RefundState::kSucceeded;
    else if (st == "PROCESSING")
      r.state = RefundState::kProcessing;
    else if (st == "ABNORMAL" || st == "CLOSED")
      r.state = RefundState::kFailed, r.error = "refund " + st;
    else
      return absl::InvalidArgumentError("unknown refund status");
    return r;
  }

  WechatPayConfig c_;
  crypto::KeyPtr merchant_key_;
  crypto::KeyPtr platform_key_;
  ClockPtr clock_;
};

}  // namespace

absl::StatusOr<ChannelPtr> MakeWechatPayChannel(WechatPayConfig config, ClockPtr clock) {
  auto mk = crypto::PrivateKeyFromPem(config.merchant_private_key_pem);
  if (!mk.ok())
    return absl::InvalidArgumentError(
        ToAbsl("wechatpay merchant key: " + std::string(mk.status().message())));
  auto pk = crypto::PublicKeyFromPem(config.platform_public_key_pem);
  if (!pk.ok())
    return absl::InvalidArgumentError(
        ToAbsl("wechatpay platform key: " + std::string(pk.status().message())));
  if (config.apiv3_key.size() != 32)
    return absl::InvalidArgumentError("wechatpay APIv3 key must be 32 bytes");
  return ChannelPtr(new WechatPayChannel(std::move(config), *mk, *pk, std::move(clock)));
}

}  // namespace orderly::payment
