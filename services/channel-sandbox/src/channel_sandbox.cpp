#include "channel_sandbox.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "channel/crypto.hpp"
#include "channel/http_client.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::sandbox {

using payment::PaymentChannel;
using payment::wire::JsonObject;
using payment::wire::Params;
namespace crypto = payment::crypto;
namespace wire = payment::wire;
namespace protocol = payment::protocol;

namespace {

Response Text(int status, std::string body) { return Response{status, "text/plain; charset=utf-8", std::move(body), {}}; }
Response Json(int status, std::string body) { return Response{status, "application/json", std::move(body), {}}; }

// The parameters of the query string and the form body together, as Alipay's gateway reads them:
// its official SDKs send the common parameters in the query and biz_content in the body. A
// malformed part or a parameter sent in both is refused.
absl::StatusOr<Params> QueryAndFormParams(const Request& req) {
  Params out;
  for (const std::string* part : {&req.query, &req.body}) {
    if (part->empty()) continue;
    auto form = wire::ParseFormStrict(*part);
    if (!form.ok()) return form.status();
    for (auto& [k, v] : *form) {
      if (!out.emplace(k, std::move(v)).second) return absl::InvalidArgumentError("parameter in query and body: " + k);
    }
  }
  return out;
}

int64_t EpochSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ChannelSandbox::ChannelSandbox(SandboxOptions options) : options_(std::move(options)) {}
ChannelSandbox::~ChannelSandbox() { Stop(); }

absl::Status ChannelSandbox::Start() {
  if (auto s = payment::EnsureSandboxKeys(options_.key_dir); !s.ok()) return s;
  auto keys = payment::LoadSandboxKeys(options_.key_dir);
  if (!keys.ok()) return keys.status();
  keys_ = std::move(*keys);
  auto load = [](auto result, crypto::KeyPtr* out) -> absl::Status {
    if (!result.ok()) return result.status();
    *out = *result;
    return absl::OkStatus();
  };
  for (auto s : {load(crypto::PublicKeyFromPem(keys_.alipay_app_public), &alipay_merchant_pub_),
                 load(crypto::PrivateKeyFromPem(keys_.alipay_platform_private), &alipay_platform_priv_),
                 load(crypto::PublicKeyFromPem(keys_.wechat_merchant_public), &wechat_merchant_pub_),
                 load(crypto::PrivateKeyFromPem(keys_.wechat_platform_private), &wechat_platform_priv_),
                 load(crypto::PrivateKeyFromPem(keys_.unionpay_signer_private), &unionpay_signer_priv_),
                 load(crypto::PublicKeyFromPem(keys_.unionpay_merchant_cert), &unionpay_merchant_pub_)}) {
    if (!s.ok()) return s;
  }
  auto serial = crypto::CertificateSerialHex(keys_.unionpay_merchant_cert);
  if (!serial.ok()) return serial.status();
  unionpay_merchant_cert_id_ = *serial;
  server_ = std::make_unique<MiniHttpServer>(options_.host, options_.port, [this](const Request& r) { return Route(r); });
  if (auto s = server_->Start(); !s.ok()) return s;
  if (options_.public_base.empty()) options_.public_base = "http://" + options_.host + ":" + std::to_string(server_->port());
  delivery_ = std::thread([this] { DeliveryLoop(); });
  settler_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      SettleRefundsLocked();
    }
  });
  return absl::OkStatus();
}

void ChannelSandbox::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (server_) server_->Stop();
  if (delivery_.joinable()) delivery_.join();
  if (settler_.joinable()) settler_.join();
}

Response ChannelSandbox::Route(const Request& req) {
  try {
    if (req.path.rfind("/alipay/", 0) == 0) return Alipay(req);
    if (req.path.rfind("/wechatpay/", 0) == 0) return Wechat(req);
    if (req.path.rfind("/unionpay/", 0) == 0) return Unionpay(req);
    return Control(req);
  } catch (const std::exception& e) {
    return Text(500, std::string("sandbox error: ") + e.what());
  }
}

bool ChannelSandbox::InjectError() {
  if (faults_.error_rate <= 0) return false;
  if (std::uniform_real_distribution<double>(0, 1)(rng_) >= faults_.error_rate) return false;
  ++stats_["injected_errors"];
  return true;
}

std::string ChannelSandbox::NewTransactionId(PaymentChannel c) {
  ++seq_;
  std::string date = payment::ChinaTime(std::chrono::system_clock::now(), "%Y%m%d");
  char buf[64];
  switch (c) {
    case payment::v1::PAYMENT_CHANNEL_ALIPAY: snprintf(buf, sizeof(buf), "%s22001%011lld", date.c_str(), static_cast<long long>(seq_)); break;
    case payment::v1::PAYMENT_CHANNEL_WECHAT_PAY: snprintf(buf, sizeof(buf), "4200%s%010lld", date.c_str(), static_cast<long long>(seq_)); break;
    default: snprintf(buf, sizeof(buf), "7%s%011lld", date.c_str(), static_cast<long long>(seq_));
  }
  return std::string(buf) + crypto::RandomAlnum(4);
}

// ---------------------------------------------------------------- Alipay

Response ChannelSandbox::Alipay(const Request& req) {
  auto form = QueryAndFormParams(req);
  if (!form.ok()) return Text(400, "malformed form: " + std::string(form.status().message()));
  Params& p = *form;
  const std::string method = p["method"];
  auto respond = [&](const std::string& node) {
    auto sig = crypto::SignSha256Rsa(alipay_platform_priv_, node);
    return Json(200, "{\"" + protocol::AlipayResponseKey(method) + "\":" + node + ",\"sign\":\"" + sig.value() + "\"}");
  };
  auto fail = [&](const std::string& code, const std::string& sub, const std::string& msg) {
    return respond(JsonObject().Str("code", code).Str("msg", code == "20000" ? "Service Currently Unavailable" : "Business Failed")
                       .Str("sub_code", sub).Str("sub_msg", msg).Build());
  };
  if (p["app_id"] != payment::kSandboxAlipayAppId ||
      !crypto::VerifySha256Rsa(alipay_merchant_pub_, protocol::AlipayRequestSigningString(p), p["sign"])) {
    return respond(JsonObject().Str("code", "40002").Str("msg", "Invalid Arguments").Str("sub_code", "isv.invalid-signature")
                       .Str("sub_msg", "invalid signature").Build());
  }
  auto biz = wire::ParseJsonObject(p["biz_content"]);
  if (!biz.ok()) return fail("40002", "isv.invalid-parameter", "biz_content is not JSON");
  std::unique_lock lock(mu_);
  if (InjectError()) return fail("20000", "isp.unknow-error", "injected system error");
  const std::string out_trade_no = wire::JsonString(*biz, "out_trade_no");
  const auto key = std::make_pair(static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_trade_no);
  auto it = trades_.find(key);
  if (method == "alipay.trade.precreate") {
    auto amount = wire::ParseYuan(wire::JsonString(*biz, "total_amount"));
    if (out_trade_no.empty() || !amount.ok() || *amount <= 0) return fail("40004", "ACQ.INVALID_PARAMETER", "bad out_trade_no / total_amount");
    if (it != trades_.end() && it->second.amount != *amount) return fail("40004", "ACQ.CONTEXT_INCONSISTENT", "amount differs");
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_ALIPAY, out_trade_no, "", "CNY", p["notify_url"], wire::JsonString(*biz, "subject")};
      t.amount = *amount;
      t.created_at = std::chrono::system_clock::now();
      it = trades_.emplace(key, std::move(t)).first;
    }
    return respond(JsonObject().Str("code", "10000").Str("msg", "Success").Str("out_trade_no", out_trade_no)
                       .Str("qr_code", options_.public_base + "/sandbox/cashier?channel=alipay&out_trade_no=" + wire::UrlEncode(out_trade_no))
                       .Build());
  }
  if (method == "alipay.trade.query" || method == "alipay.trade.close") {
    if (it == trades_.end()) return fail("40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist");
    Trade& t = it->second;
    if (method == "alipay.trade.close") {
      if (t.state == "SUCCEEDED") return fail("40004", "ACQ.TRADE_STATUS_ERROR", "trade already paid");
      t.state = "CLOSED";
      return respond(JsonObject().Str("code", "10000").Str("msg", "Success").Str("out_trade_no", t.out_trade_no).Build());
    }
    std::string status = t.state == "SUCCEEDED" ? "TRADE_SUCCESS" : t.state == "CLOSED" ? "TRADE_CLOSED" : "WAIT_BUYER_PAY";
    JsonObject o;
    o.Str("code", "10000").Str("msg", "Success").Str("out_trade_no", t.out_trade_no).Str("trade_no", t.transaction_id)
        .Str("trade_status", status).Str("total_amount", wire::FormatYuan(t.amount));
    if (t.state == "SUCCEEDED") o.Str("send_pay_date", payment::ChinaTime(t.paid_at, "%Y-%m-%d %H:%M:%S"));
    return respond(o.Build());
  }
  if (method == "alipay.trade.refund") {
    if (it == trades_.end()) return fail("40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist");
    Trade& t = it->second;
    if (t.state != "SUCCEEDED") return fail("40004", "ACQ.TRADE_STATUS_ERROR", "trade not paid");
    auto amount = wire::ParseYuan(wire::JsonString(*biz, "refund_amount"));
    std::string out_refund_no = wire::JsonString(*biz, "out_request_no");
    if (!amount.ok() || *amount <= 0 || out_refund_no.empty()) return fail("40004", "ACQ.INVALID_PARAMETER", "bad refund_amount");
    auto rkey = std::make_pair(static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_refund_no);
    bool stall = false;
    auto rit = refunds_.find(rkey);
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_) if (r.out_trade_no == t.out_trade_no && r.channel == t.channel) refunded += r.amount;
      if (refunded + *amount > t.amount) return fail("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "refund exceeds the paid amount");
      RefundRec r{payment::v1::PAYMENT_CHANNEL_ALIPAY, out_refund_no, t.out_trade_no, t.transaction_id + ":" + out_refund_no};
      r.amount = *amount;
      r.created_at = std::chrono::system_clock::now();
      if (faults_.refund_timeout > 0) {
        --faults_.refund_timeout;
        stall = true;
        r.done_at = r.created_at + options_.refund_delay;  // succeeds later, seen by query
      } else {
        r.state = "SUCCEEDED";
        r.done_at = r.created_at;
      }
      rit = refunds_.emplace(rkey, std::move(r)).first;
    }
    std::string node = JsonObject().Str("code", "10000").Str("msg", "Success").Str("trade_no", t.transaction_id)
                           .Str("out_trade_no", t.out_trade_no).Str("refund_fee", wire::FormatYuan(rit->second.amount))
                           .Str("fund_change", "Y").Build();
    if (stall) {
      ++stats_["refund_timeouts"];
      lock.unlock();
      std::this_thread::sleep_for(options_.refund_timeout);
    }
    return respond(node);
  }
  if (method == "alipay.trade.fastpay.refund.query") {
    std::string out_refund_no = wire::JsonString(*biz, "out_request_no");
    auto rit = refunds_.find({static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_refund_no});
    JsonObject o;
    o.Str("code", "10000").Str("msg", "Success").Str("out_trade_no", out_trade_no).Str("out_request_no", out_refund_no);
    if (rit != refunds_.end() && rit->second.state == "SUCCEEDED") {
      o.Str("refund_status", "REFUND_SUCCESS").Str("refund_amount", wire::FormatYuan(rit->second.amount))
          .Str("trade_no", it == trades_.end() ? "" : it->second.transaction_id);
    }
    return respond(o.Build());
  }
  if (method == "alipay.data.dataservice.bill.downloadurl.query") {
    return respond(JsonObject().Str("code", "10000").Str("msg", "Success")
                       .Str("bill_download_url", options_.public_base + "/sandbox/bill?channel=alipay&date=" + wire::JsonString(*biz, "bill_date"))
                       .Build());
  }
  return fail("40004", "isv.invalid-method", "unknown method");
}

std::string ChannelSandbox::AlipayNotifyBody(const Trade& t, int64_t amount, bool corrupt) {
  Params p{{"notify_time", payment::ChinaTime(std::chrono::system_clock::now(), "%Y-%m-%d %H:%M:%S")},
           {"notify_type", "trade_status_sync"}, {"notify_id", crypto::RandomAlnum(32)},
           {"app_id", payment::kSandboxAlipayAppId}, {"charset", "utf-8"}, {"version", "1.0"}, {"sign_type", "RSA2"},
           {"trade_no", t.transaction_id}, {"out_trade_no", t.out_trade_no}, {"trade_status", "TRADE_SUCCESS"},
           {"total_amount", wire::FormatYuan(amount)}, {"receipt_amount", wire::FormatYuan(amount)},
           {"gmt_create", payment::ChinaTime(t.created_at, "%Y-%m-%d %H:%M:%S")},
           {"gmt_payment", payment::ChinaTime(t.paid_at, "%Y-%m-%d %H:%M:%S")}, {"subject", t.description}};
  std::string signing = protocol::AlipayNotifySigningString(p);
  p["sign"] = crypto::SignSha256Rsa(alipay_platform_priv_, corrupt ? signing + "&forged=1" : signing).value();
  return wire::EncodeForm(p);
}

// ---------------------------------------------------------------- WeChat Pay v3

Response ChannelSandbox::Wechat(const Request& req) {
  auto respond = [&](int status, const std::string& body) {
    Response r = Json(status, body);
    std::string ts = std::to_string(EpochSeconds(std::chrono::system_clock::now()));
    std::string nonce = crypto::RandomAlnum(32);
    r.headers["Wechatpay-Timestamp"] = ts;
    r.headers["Wechatpay-Nonce"] = nonce;
    r.headers["Wechatpay-Serial"] = payment::kSandboxWechatPlatformSerial;
    r.headers["Wechatpay-Signature"] =
        crypto::SignSha256Rsa(wechat_platform_priv_, protocol::WechatResponseMessage(ts, nonce, body)).value();
    return r;
  };
  auto error = [&](int status, const std::string& code, const std::string& msg) {
    return respond(status, JsonObject().Str("code", code).Str("message", msg).Build());
  };
  auto auth = protocol::ParseWechatAuthorization(req.Header("authorization"));
  std::string target = req.path + (req.query.empty() ? "" : "?" + req.query);
  if (!auth.ok() || (*auth)["mchid"] != payment::kSandboxWechatMchId ||
      (*auth)["serial_no"] != payment::kSandboxWechatMerchantSerial ||
      !crypto::VerifySha256Rsa(wechat_merchant_pub_,
                               protocol::WechatRequestMessage(req.method, target, (*auth)["timestamp"], (*auth)["nonce_str"], req.body),
                               (*auth)["signature"])) {
    return error(401, "SIGN_ERROR", "signature verification failed");
  }
  std::unique_lock lock(mu_);
  if (InjectError()) return error(500, "SYSTEM_ERROR", "injected system error");
  const int ch = payment::v1::PAYMENT_CHANNEL_WECHAT_PAY;
  std::string sub = req.path.substr(strlen("/wechatpay"));
  const std::string kTx = "/v3/pay/transactions/";
  const std::string kByNo = "/v3/pay/transactions/out-trade-no/";
  const std::string kRefunds = "/v3/refund/domestic/refunds";
  if (req.method == "POST" && sub.rfind(kByNo, 0) == 0 && sub.size() > 6 && sub.substr(sub.size() - 6) == "/close") {
    std::string id = sub.substr(kByNo.size(), sub.size() - kByNo.size() - 6);
    auto it = trades_.find({ch, id});
    if (it == trades_.end()) return error(404, "ORDER_NOT_EXIST", "order does not exist");
    if (it->second.state == "SUCCEEDED") return error(400, "ORDERPAID", "order already paid");
    it->second.state = "CLOSED";
    return respond(204, "");
  }
  if (req.method == "GET" && sub.rfind(kByNo, 0) == 0) {
    auto it = trades_.find({ch, sub.substr(kByNo.size())});
    if (it == trades_.end()) return error(404, "ORDER_NOT_EXIST", "order does not exist");
    const Trade& t = it->second;
    std::string state = t.state == "SUCCEEDED" ? "SUCCESS" : t.state == "CLOSED" ? "CLOSED" : "NOTPAY";
    JsonObject o;
    o.Str("appid", payment::kSandboxWechatAppId).Str("mchid", payment::kSandboxWechatMchId).Str("out_trade_no", t.out_trade_no)
        .Str("transaction_id", t.transaction_id).Str("trade_type", "NATIVE").Str("trade_state", state)
        .Str("trade_state_desc", state);
    if (t.state == "SUCCEEDED") o.Str("success_time", payment::ChinaTime(t.paid_at, "%Y-%m-%dT%H:%M:%S+08:00"));
    o.Raw("amount", JsonObject().Int("total", t.amount).Int("payer_total", t.amount).Str("currency", t.currency)
                        .Str("payer_currency", t.currency).Build());
    return respond(200, o.Build());
  }
  if (req.method == "POST" && sub.rfind(kTx, 0) == 0) {
    std::string kind = sub.substr(kTx.size());
    auto body = wire::ParseJsonObject(req.body);
    if (!body.ok()) return error(400, "PARAM_ERROR", "body is not JSON");
    std::string out_trade_no = wire::JsonString(*body, "out_trade_no");
    auto total = wire::JsonInt(*body, "amount.total");
    if (out_trade_no.empty() || !total || *total <= 0) return error(400, "PARAM_ERROR", "out_trade_no / amount.total");
    std::string currency = wire::JsonString(*body, "amount.currency");
    if (currency.empty()) currency = "CNY";
    auto it = trades_.find({ch, out_trade_no});
    if (it != trades_.end() && it->second.amount != *total) return error(400, "INVALID_REQUEST", "out_trade_no reused with another amount");
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_WECHAT_PAY, out_trade_no, "", currency, wire::JsonString(*body, "notify_url"),
              wire::JsonString(*body, "description")};
      t.amount = *total;
      t.created_at = std::chrono::system_clock::now();
      it = trades_.emplace(std::make_pair(ch, out_trade_no), std::move(t)).first;
    }
    std::string link = options_.public_base + "/sandbox/cashier?channel=wechatpay&out_trade_no=" + wire::UrlEncode(out_trade_no);
    if (kind == "native") return respond(200, JsonObject().Str("code_url", link).Build());
    if (kind == "h5") return respond(200, JsonObject().Str("h5_url", link).Build());
    return respond(200, JsonObject().Str("prepay_id", "wx" + crypto::Sha256Hex(out_trade_no).substr(0, 30)).Build());
  }
  if (req.method == "POST" && sub == kRefunds) {
    auto body = wire::ParseJsonObject(req.body);
    if (!body.ok()) return error(400, "PARAM_ERROR", "body is not JSON");
    std::string out_trade_no = wire::JsonString(*body, "out_trade_no");
    std::string out_refund_no = wire::JsonString(*body, "out_refund_no");
    auto amount = wire::JsonInt(*body, "amount.refund");
    auto it = trades_.find({ch, out_trade_no});
    if (it == trades_.end()) return error(404, "RESOURCE_NOT_EXISTS", "order does not exist");
    if (it->second.state != "SUCCEEDED") return error(400, "INVALID_REQUEST", "order not paid");
    if (!amount || *amount <= 0 || out_refund_no.empty()) return error(400, "PARAM_ERROR", "amount.refund / out_refund_no");
    auto rit = refunds_.find({ch, out_refund_no});
    bool stall = false;
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_) if (r.out_trade_no == out_trade_no && r.channel == ch) refunded += r.amount;
      if (refunded + *amount > it->second.amount) return error(400, "INVALID_REQUEST", "refund exceeds the paid amount");
      RefundRec r{payment::v1::PAYMENT_CHANNEL_WECHAT_PAY, out_refund_no, out_trade_no, "50" + crypto::RandomAlnum(10) + std::to_string(++seq_),
                  wire::JsonString(*body, "notify_url")};
      r.amount = *amount;
      r.created_at = std::chrono::system_clock::now();
      r.done_at = r.created_at + options_.refund_delay;
      if (faults_.refund_timeout > 0) --faults_.refund_timeout, stall = true;
      rit = refunds_.emplace(std::make_pair(ch, out_refund_no), std::move(r)).first;
    }
    const RefundRec& r = rit->second;
    std::string out = JsonObject().Str("refund_id", r.refund_id).Str("out_refund_no", r.out_refund_no).Str("out_trade_no", r.out_trade_no)
                          .Str("transaction_id", it->second.transaction_id)
                          .Str("status", r.state == "SUCCEEDED" ? "SUCCESS" : "PROCESSING")
                          .Raw("amount", JsonObject().Int("refund", r.amount).Int("total", it->second.amount).Str("currency", "CNY").Build())
                          .Build();
    if (stall) {
      ++stats_["refund_timeouts"];
      lock.unlock();
      std::this_thread::sleep_for(options_.refund_timeout);
    }
    return respond(200, out);
  }
  if (req.method == "GET" && sub.rfind(kRefunds + "/", 0) == 0) {
    auto rit = refunds_.find({ch, sub.substr(kRefunds.size() + 1)});
    if (rit == refunds_.end()) return error(404, "RESOURCE_NOT_EXISTS", "refund does not exist");
    const RefundRec& r = rit->second;
    return respond(200, JsonObject().Str("refund_id", r.refund_id).Str("out_refund_no", r.out_refund_no).Str("out_trade_no", r.out_trade_no)
                            .Str("status", r.state == "SUCCEEDED" ? "SUCCESS" : "PROCESSING")
                            .Raw("amount", JsonObject().Int("refund", r.amount).Str("currency", "CNY").Build())
                            .Build());
  }
  if (req.method == "GET" && sub == "/v3/bill/tradebill") {
    auto q = wire::ParseFormStrict(req.query);
    std::string date = q.ok() ? (*q)["bill_date"] : "";
    std::string csv = payment::FormatBillCsv(BillLocked(payment::v1::PAYMENT_CHANNEL_WECHAT_PAY, date));
    return respond(200, JsonObject().Str("hash_type", "SHA1").Str("hash_value", crypto::Sha1Hex(csv))
                            .Str("download_url", options_.public_base + "/sandbox/bill?channel=wechatpay&date=" + date)
                            .Build());
  }
  return error(404, "NOT_FOUND", "no such API in the sandbox");
}

ChannelSandbox::Outgoing ChannelSandbox::WechatNotification(const std::string& url, const std::string& event,
                                                            const std::string& resource_json, bool corrupt) {
  std::string nonce = crypto::RandomAlnum(12);
  std::string aad = event.rfind("REFUND", 0) == 0 ? "refund" : "transaction";
  std::string ct = crypto::AesGcmEncrypt(keys_.wechat_apiv3_key, nonce, aad, resource_json).value();
  std::string body = JsonObject().Str("id", crypto::RandomAlnum(8) + "-" + crypto::RandomAlnum(8))
                         .Str("create_time", payment::ChinaTime(std::chrono::system_clock::now(), "%Y-%m-%dT%H:%M:%S+08:00"))
                         .Str("resource_type", "encrypt-resource").Str("event_type", event)
                         .Str("summary", event == "TRANSACTION.SUCCESS" ? "支付成功" : "退款成功")
                         .Raw("resource", JsonObject().Str("original_type", aad).Str("algorithm", "AEAD_AES_256_GCM")
                                              .Str("ciphertext", crypto::Base64Encode(ct)).Str("associated_data", aad)
                                              .Str("nonce", nonce).Build())
                         .Build();
  std::string ts = std::to_string(EpochSeconds(std::chrono::system_clock::now()));
  std::string hn = crypto::RandomAlnum(32);
  std::string msg = protocol::WechatResponseMessage(ts, hn, body);
  Outgoing o;
  o.url = url;
  o.body = body;
  o.headers = {{"Content-Type", "application/json"}, {"Wechatpay-Timestamp", ts}, {"Wechatpay-Nonce", hn},
               {"Wechatpay-Serial", payment::kSandboxWechatPlatformSerial},
               {"Wechatpay-Signature", crypto::SignSha256Rsa(wechat_platform_priv_, corrupt ? msg + "forged" : msg).value()}};
  return o;
}

// ---------------------------------------------------------------- UnionPay

std::string ChannelSandbox::UnionpayNotifyBody(const std::map<std::string, std::string>& fields, bool corrupt) {
  Params p = fields;
  p["version"] = "5.1.0";
  p["encoding"] = "UTF-8";
  p["signMethod"] = "01";
  p["merId"] = payment::kSandboxUnionpayMerId;
  p["signPubKeyCert"] = keys_.unionpay_signer_cert;
  (void)protocol::UnionpaySign(p, unionpay_signer_priv_);
  if (corrupt) p["signature"] = crypto::SignSha256Rsa(unionpay_signer_priv_, "forged").value();
  return wire::EncodeForm(p);
}

Response ChannelSandbox::Unionpay(const Request& req) {
  auto form = wire::ParseFormStrict(req.body);
  auto respond = [&](Params p) {
    p["version"] = "5.1.0";
    p["encoding"] = "UTF-8";
    p["signMethod"] = "01";
    p["merId"] = payment::kSandboxUnionpayMerId;
    p["signPubKeyCert"] = keys_.unionpay_signer_cert;
    (void)protocol::UnionpaySign(p, unionpay_signer_priv_);
    return Response{200, "application/x-www-form-urlencoded;charset=UTF-8", wire::EncodeForm(p), {}};
  };
  if (!form.ok()) return respond({{"respCode", "30"}, {"respMsg", "报文格式错误"}});
  Params& p = *form;
  if (p["certId"] != unionpay_merchant_cert_id_ ||
      !crypto::VerifySha256Rsa(unionpay_merchant_pub_, protocol::UnionpaySigningString(p), p["signature"])) {
    return respond({{"respCode", "11"}, {"respMsg", "验证签名失败"}});
  }
  std::unique_lock lock(mu_);
  if (InjectError()) return respond({{"respCode", "06"}, {"respMsg", "系统繁忙 (injected)"}, {"orderId", p["orderId"]}});
  const int ch = payment::v1::PAYMENT_CHANNEL_UNIONPAY;
  const std::string api = req.path.substr(strlen("/unionpay"));
  if (api == "/gateway/api/backTransReq.do" && p["txnType"] == "01") {
    auto amount = wire::ParseInt64(p["txnAmt"]);
    if (p["orderId"].empty() || !amount.ok() || *amount <= 0) return respond({{"respCode", "30"}, {"respMsg", "txnAmt"}});
    auto it = trades_.find({ch, p["orderId"]});
    if (it != trades_.end() && it->second.amount != *amount) return respond({{"respCode", "12"}, {"respMsg", "重复交易"}});
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_UNIONPAY, p["orderId"], "", "CNY", p["backUrl"], p["orderDesc"]};
      t.amount = *amount;
      t.created_at = std::chrono::system_clock::now();
      t.txn_time = p["txnTime"];
      it = trades_.emplace(std::make_pair(ch, p["orderId"]), std::move(t)).first;
    }
    std::string qr = options_.public_base + "/sandbox/cashier?channel=unionpay&out_trade_no=" + wire::UrlEncode(p["orderId"]);
    return respond({{"respCode", "00"}, {"respMsg", "成功[0000000]"}, {"txnType", "01"}, {"orderId", p["orderId"]},
                    {"txnTime", p["txnTime"]}, {"qrCode", qr}});
  }
  if (api == "/gateway/api/backTransReq.do" && p["txnType"] == "04") {
    auto amount = wire::ParseInt64(p["txnAmt"]);
    auto tit = std::find_if(trades_.begin(), trades_.end(), [&](auto& kv) {
      return kv.first.first == ch && kv.second.transaction_id == p["origQryId"] && !p["origQryId"].empty();
    });
    if (tit == trades_.end() || tit->second.state != "SUCCEEDED") return respond({{"respCode", "35"}, {"respMsg", "原交易不存在或状态不正确"}});
    if (!amount.ok() || *amount <= 0 || p["orderId"].empty()) return respond({{"respCode", "30"}, {"respMsg", "txnAmt"}});
    auto rit = refunds_.find({ch, p["orderId"]});
    bool stall = false;
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_) if (r.out_trade_no == tit->second.out_trade_no && r.channel == ch) refunded += r.amount;
      if (refunded + *amount > tit->second.amount) return respond({{"respCode", "61"}, {"respMsg", "退货金额超限"}});
      RefundRec r{payment::v1::PAYMENT_CHANNEL_UNIONPAY, p["orderId"], tit->second.out_trade_no, NewTransactionId(payment::v1::PAYMENT_CHANNEL_UNIONPAY),
                  p["backUrl"], p["txnTime"]};
      r.amount = *amount;
      r.created_at = std::chrono::system_clock::now();
      r.done_at = r.created_at + options_.refund_delay;
      if (faults_.refund_timeout > 0) --faults_.refund_timeout, stall = true;
      rit = refunds_.emplace(std::make_pair(ch, p["orderId"]), std::move(r)).first;
    }
    Params answer{{"respCode", "00"}, {"respMsg", "成功[0000000]"}, {"txnType", "04"}, {"orderId", p["orderId"]},
                  {"queryId", rit->second.refund_id}, {"txnAmt", std::to_string(rit->second.amount)}};
    if (stall) {
      ++stats_["refund_timeouts"];
      lock.unlock();
      std::this_thread::sleep_for(options_.refund_timeout);
    }
    return respond(answer);
  }
  if (api == "/gateway/api/queryTrans.do") {
    auto it = trades_.find({ch, p["orderId"]});
    if (it != trades_.end()) {
      const Trade& t = it->second;
      std::string orig = t.state == "SUCCEEDED" ? "00" : t.state == "CLOSED" ? "CLOSED" : "05";
      return respond({{"respCode", "00"}, {"respMsg", "成功"}, {"origRespCode", orig}, {"origRespMsg", t.state},
                      {"txnType", "01"}, {"orderId", t.out_trade_no}, {"queryId", t.transaction_id},
                      {"txnAmt", std::to_string(t.amount)}, {"currencyCode", "156"}, {"txnTime", t.txn_time},
                      {"payTime", t.state == "SUCCEEDED" ? payment::ChinaTime(t.paid_at, "%Y%m%d%H%M%S") : ""}});
    }
    auto rit = refunds_.find({ch, p["orderId"]});
    if (rit != refunds_.end()) {
      const RefundRec& r = rit->second;
      return respond({{"respCode", "00"}, {"respMsg", "成功"}, {"origRespCode", r.state == "SUCCEEDED" ? "00" : "05"},
                      {"origRespMsg", r.state}, {"txnType", "04"}, {"orderId", r.out_refund_no}, {"queryId", r.refund_id},
                      {"txnAmt", std::to_string(r.amount)}, {"currencyCode", "156"}});
    }
    return respond({{"respCode", "34"}, {"respMsg", "查无此交易"}, {"orderId", p["orderId"]}});
  }
  if (api == "/gateway/api/fileTransfer.do") {
    std::string csv = payment::FormatBillCsv(BillLocked(payment::v1::PAYMENT_CHANNEL_UNIONPAY, p["billDate"]));
    return respond({{"respCode", "00"}, {"respMsg", "成功"}, {"fileContent", crypto::Base64Encode(csv)},
                    {"fileName", "INN" + p["settleDate"] + "ZM_" + std::string(payment::kSandboxUnionpayMerId)}});
  }
  return respond({{"respCode", "30"}, {"respMsg", "unknown API"}});
}

// ---------------------------------------------------------------- payments, notifications, faults

void ChannelSandbox::PayLocked(Trade& t) {
  t.state = "SUCCEEDED";
  t.transaction_id = NewTransactionId(t.channel);
  t.paid_at = std::chrono::system_clock::now();
  ++stats_["paid"];
  QueueTradeNotification(t);
}

void ChannelSandbox::QueueTradeNotification(const Trade& t) {
  ++stats_["notifications"];
  if (faults_.drop > 0) {
    --faults_.drop;
    ++stats_["dropped"];
    return;
  }
  int64_t amount = t.amount;
  if (faults_.wrong_amount > 0) --faults_.wrong_amount, amount += 1, ++stats_["wrong_amount"];
  bool corrupt = false;
  if (faults_.bad_signature > 0) --faults_.bad_signature, corrupt = true, ++stats_["bad_signature"];
  Outgoing o;
  if (t.channel == payment::v1::PAYMENT_CHANNEL_ALIPAY) {
    o.url = t.notify_url;
    o.body = AlipayNotifyBody(t, amount, corrupt);
    o.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  } else if (t.channel == payment::v1::PAYMENT_CHANNEL_WECHAT_PAY) {
    std::string res = JsonObject().Str("mchid", payment::kSandboxWechatMchId).Str("appid", payment::kSandboxWechatAppId)
                          .Str("out_trade_no", t.out_trade_no).Str("transaction_id", t.transaction_id).Str("trade_type", "NATIVE")
                          .Str("trade_state", "SUCCESS").Str("trade_state_desc", "支付成功")
                          .Str("success_time", payment::ChinaTime(t.paid_at, "%Y-%m-%dT%H:%M:%S+08:00"))
                          .Raw("amount", JsonObject().Int("total", amount).Int("payer_total", amount).Str("currency", t.currency)
                                             .Str("payer_currency", t.currency).Build())
                          .Build();
    o = WechatNotification(t.notify_url, "TRANSACTION.SUCCESS", res, corrupt);
  } else {
    o.url = t.notify_url;
    o.body = UnionpayNotifyBody({{"txnType", "01"}, {"txnSubType", "07"}, {"bizType", "000000"}, {"accessType", "0"},
                                 {"orderId", t.out_trade_no}, {"txnTime", t.txn_time}, {"txnAmt", std::to_string(amount)},
                                 {"currencyCode", "156"}, {"queryId", t.transaction_id}, {"respCode", "00"},
                                 {"respMsg", "成功[0000000]"}, {"payTime", payment::ChinaTime(t.paid_at, "%Y%m%d%H%M%S")},
                                 {"traceTime", payment::ChinaTime(t.paid_at, "%m%d%H%M%S")}},
                                corrupt);
    o.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  }
  o.what = payment::ChannelName(t.channel) + " payment " + t.out_trade_no;
  Enqueue(std::move(o), true, nullptr);
}

void ChannelSandbox::QueueRefundNotification(const RefundRec& r) {
  auto tit = trades_.find({static_cast<int>(r.channel), r.out_trade_no});
  if (tit == trades_.end() || r.notify_url.empty()) return;
  ++stats_["notifications"];
  if (faults_.drop > 0) {
    --faults_.drop;
    ++stats_["dropped"];
    return;
  }
  Outgoing o;
  if (r.channel == payment::v1::PAYMENT_CHANNEL_WECHAT_PAY) {
    std::string res = JsonObject().Str("mchid", payment::kSandboxWechatMchId).Str("out_trade_no", r.out_trade_no)
                          .Str("transaction_id", tit->second.transaction_id).Str("out_refund_no", r.out_refund_no)
                          .Str("refund_id", r.refund_id).Str("refund_status", "SUCCESS")
                          .Str("success_time", payment::ChinaTime(r.done_at, "%Y-%m-%dT%H:%M:%S+08:00"))
                          .Raw("amount", JsonObject().Int("total", tit->second.amount).Int("refund", r.amount).Build())
                          .Build();
    o = WechatNotification(r.notify_url, "REFUND.SUCCESS", res, false);
  } else {
    o.url = r.notify_url;
    o.body = UnionpayNotifyBody({{"txnType", "04"}, {"txnSubType", "00"}, {"bizType", "000000"}, {"accessType", "0"},
                                 {"orderId", r.out_refund_no}, {"txnTime", r.txn_time}, {"txnAmt", std::to_string(r.amount)},
                                 {"currencyCode", "156"}, {"queryId", r.refund_id}, {"origQryId", tit->second.transaction_id},
                                 {"respCode", "00"}, {"respMsg", "成功[0000000]"}},
                                false);
    o.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  }
  o.what = payment::ChannelName(r.channel) + " refund " + r.out_refund_no;
  Enqueue(std::move(o), true, nullptr);
}

void ChannelSandbox::Enqueue(Outgoing o, bool allow_faults, int64_t*) {
  o.due = std::chrono::system_clock::now() + std::chrono::milliseconds(faults_.delay_ms);
  int copies = 1;
  if (allow_faults && faults_.duplicate > 1) copies = faults_.duplicate, faults_.duplicate = 0, ++stats_["duplicated"];
  if (allow_faults && faults_.reorder > 0) {
    for (int i = 0; i < copies; ++i) held_.push_back(o);
    if (--faults_.reorder == 0) {
      auto now = std::chrono::system_clock::now();
      int i = 0;
      for (auto it = held_.rbegin(); it != held_.rend(); ++it, ++i) {
        it->due = std::max(it->due, now) + std::chrono::milliseconds(100 * i);
        queue_.push_back(*it);
      }
      held_.clear();
      ++stats_["reordered"];
    }
  } else {
    for (int i = 0; i < copies; ++i) queue_.push_back(o);
  }
  cv_.notify_all();
}

void ChannelSandbox::SettleRefundsLocked() {
  auto now = std::chrono::system_clock::now();
  for (auto& [k, r] : refunds_) {
    if (r.state == "PROCESSING" && r.done_at <= now) {
      r.state = "SUCCEEDED";
      ++stats_["refunds_succeeded"];
      if (r.channel != payment::v1::PAYMENT_CHANNEL_ALIPAY) QueueRefundNotification(r);
    }
  }
}

std::vector<payment::BillRecord> ChannelSandbox::BillLocked(PaymentChannel c, const std::string& date) {
  std::vector<payment::BillRecord> out;
  for (auto& [k, t] : trades_) {
    if (t.channel != c || t.state != "SUCCEEDED" || payment::ChinaTime(t.paid_at, "%Y-%m-%d") != date) continue;
    payment::BillRecord r;
    r.out_trade_no = t.out_trade_no;
    r.transaction_id = t.transaction_id;
    r.amount_minor = t.amount;
    r.currency = t.currency;
    r.time = t.paid_at;
    out.push_back(r);
  }
  for (auto& [k, rf] : refunds_) {
    if (rf.channel != c || rf.state != "SUCCEEDED" || payment::ChinaTime(rf.done_at, "%Y-%m-%d") != date) continue;
    payment::BillRecord r;
    r.kind = payment::BillRecord::Kind::kRefund;
    r.out_trade_no = rf.out_trade_no;
    auto tit = trades_.find({static_cast<int>(c), rf.out_trade_no});
    r.transaction_id = tit == trades_.end() ? "" : tit->second.transaction_id;
    r.out_refund_no = rf.out_refund_no;
    r.channel_refund_id = rf.refund_id;
    r.amount_minor = rf.amount;
    r.currency = "CNY";
    r.time = rf.done_at;
    out.push_back(r);
  }
  for (const auto& r : planted_) {
    // planted records carry their channel's name in channel_refund_id until billed
    if (r.channel_refund_id != payment::ChannelName(c) || payment::ChinaTime(r.time, "%Y-%m-%d") != date) continue;
    auto copy = r;
    copy.channel_refund_id.clear();
    out.push_back(copy);
  }
  return out;
}

void ChannelSandbox::DeliveryLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = std::chrono::system_clock::now();
    auto next = std::min_element(queue_.begin(), queue_.end(), [](const Outgoing& a, const Outgoing& b) { return a.due < b.due; });
    if (next == queue_.end()) {
      cv_.wait_for(lock, std::chrono::milliseconds(200));
      continue;
    }
    if (next->due > now) {
      cv_.wait_until(lock, next->due);
      continue;
    }
    Outgoing o = std::move(*next);
    queue_.erase(next);
    ++stats_["deliveries_in_flight"];
    // Each delivery on its own thread, so duplicates race each other like real re-sends.
    std::thread([this, o = std::move(o)]() mutable {
      payment::HttpClientRequest req;
      req.method = "POST";
      req.url = o.url;
      req.headers = o.headers;
      req.body = o.body;
      req.timeout = std::chrono::milliseconds(5000);
      auto resp = payment::HttpFetch(req);
      bool ok = resp.ok() && resp->status >= 200 && resp->status < 300 &&
                (o.url.find("/alipay") == std::string::npos || resp->body == "success");
      std::lock_guard lock(mu_);
      --stats_["deliveries_in_flight"];
      ++stats_[ok ? "delivered" : "delivery_failed"];
      if (!ok) {
        spdlog::info("sandbox: notification {} to {} failed (attempt {}): {}", o.what, o.url, o.attempt + 1,
                     resp.ok() ? std::to_string(resp->status) + " " + resp->body.substr(0, 100) : resp.status().ToString());
        if (++o.attempt < options_.notify_attempts) {
          o.due = std::chrono::system_clock::now() + options_.notify_retry * (1 << (o.attempt - 1));
          queue_.push_back(std::move(o));
          cv_.notify_all();
        }
      }
    }).detach();
  }
}

Response ChannelSandbox::Control(const Request& req) {
  if (req.path == "/readyz" || req.path == "/healthz") return Text(200, "ok");
  Params p = QueryAndFormParams(req).value_or(Params{});
  std::lock_guard lock(mu_);
  PaymentChannel c = payment::ChannelFromName(p["channel"]);
  if (req.path == "/sandbox/pay" || req.path == "/sandbox/cashier") {
    auto it = trades_.find({static_cast<int>(c), p["out_trade_no"]});
    if (it == trades_.end()) return Text(404, "no such trade at " + payment::ChannelName(c) + ": " + p["out_trade_no"]);
    Trade& t = it->second;
    if (req.path == "/sandbox/cashier" && req.method == "GET") {
      return Text(200, "Orderly channel sandbox cashier (" + payment::ChannelName(c) + ")\ntrade " + t.out_trade_no + "\namount " +
                           wire::FormatYuan(t.amount) + " " + t.currency + "\nstate " + t.state + "\npay: curl -X POST '" +
                           options_.public_base + "/sandbox/pay?channel=" + payment::ChannelName(c) + "&out_trade_no=" +
                           wire::UrlEncode(t.out_trade_no) + "'\n");
    }
    if (t.state == "SUCCEEDED") return Json(200, JsonObject().Str("state", t.state).Str("transaction_id", t.transaction_id).Build());
    // force=1: the buyer paid just as the merchant closed the trade (a late payment).
    if (t.state == "CLOSED" && p["force"] != "1") return Text(409, "trade is closed");
    PayLocked(t);
    return Json(200, JsonObject().Str("state", t.state).Str("transaction_id", t.transaction_id).Build());
  }
  if (req.path == "/sandbox/faults") {
    if (p["reset"] == "1") faults_ = Faults{};
    auto num = [&](const char* k, auto* out) {
      if (p.count(k)) *out = static_cast<std::remove_pointer_t<decltype(out)>>(std::atof(p[k].c_str()));
    };
    num("drop", &faults_.drop);
    num("duplicate", &faults_.duplicate);
    num("delay_ms", &faults_.delay_ms);
    num("reorder", &faults_.reorder);
    num("wrong_amount", &faults_.wrong_amount);
    num("bad_signature", &faults_.bad_signature);
    num("refund_timeout", &faults_.refund_timeout);
    num("error_rate", &faults_.error_rate);
    return Json(200, JsonObject().Int("drop", faults_.drop).Int("duplicate", faults_.duplicate).Int("delay_ms", faults_.delay_ms)
                         .Int("reorder", faults_.reorder).Int("wrong_amount", faults_.wrong_amount)
                         .Int("bad_signature", faults_.bad_signature).Int("refund_timeout", faults_.refund_timeout)
                         .Raw("error_rate", std::to_string(faults_.error_rate)).Build());
  }
  if (req.path == "/sandbox/reset") {
    faults_ = Faults{};
    trades_.clear();
    refunds_.clear();
    planted_.clear();
    queue_.clear();
    held_.clear();
    return Text(200, "reset");
  }
  if (req.path == "/sandbox/trade") {
    auto it = trades_.find({static_cast<int>(c), p["out_trade_no"]});
    if (it == trades_.end()) return Text(404, "no such trade");
    int64_t refunded = 0;
    for (auto& [k, r] : refunds_) if (r.channel == c && r.out_trade_no == it->second.out_trade_no && r.state == "SUCCEEDED") refunded += r.amount;
    return Json(200, JsonObject().Str("state", it->second.state).Str("transaction_id", it->second.transaction_id)
                         .Int("amount", it->second.amount).Int("refunded", refunded).Build());
  }
  if (req.path == "/sandbox/bill/plant") {
    // A record only the channel has: MISSING_LOCAL for reconciliation.
    payment::BillRecord r;
    r.kind = p["kind"] == "refund" ? payment::BillRecord::Kind::kRefund : payment::BillRecord::Kind::kPayment;
    r.out_trade_no = p["out_trade_no"];
    r.transaction_id = p["transaction_id"].empty() ? NewTransactionId(c) : p["transaction_id"];
    r.out_refund_no = p["out_refund_no"];
    r.channel_refund_id = payment::ChannelName(c);  // channel tag; cleared when billed
    auto amount = wire::ParseInt64(p["amount"]);
    r.amount_minor = amount.ok() ? *amount : 1;
    r.currency = "CNY";
    r.time = std::chrono::system_clock::now();
    planted_.push_back(r);
    return Text(200, "planted");
  }
  if (req.path == "/sandbox/bill") {
    auto records = BillLocked(c, p["date"]);
    return Response{200, "text/csv; charset=utf-8", payment::FormatBillCsv(records), {}};
  }
  if (req.path == "/sandbox/stats") {
    JsonObject o;
    for (auto& [k, v] : stats_) o.Int(k, v);
    o.Int("trades", static_cast<int64_t>(trades_.size())).Int("refunds", static_cast<int64_t>(refunds_.size()));
    return Json(200, o.Build());
  }
  return Text(404, "not found");
}

}  // namespace orderly::sandbox
