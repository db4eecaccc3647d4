#include "channel_sandbox.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "channel_signatures.hpp"
#include "notify_client.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::sandbox {

// Objects keep their members in insertion order, as the channels write them.
using Json = nlohmann::ordered_json;

namespace {

// JSON from a client: nlohmann's parser (strict, UTF-8 checked); integers stay int64, never double.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  return j;
}
// A member by dotted path ("amount.total"): "" / nullopt when absent or of another type.
const nlohmann::json* At(const nlohmann::json& j, std::string_view path) {
  const nlohmann::json* cur = &j;
  while (true) {
    const size_t dot = path.find('.');
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(std::string(path.substr(0, dot)));
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}
std::string StrAt(const nlohmann::json& j, std::string_view path) {
  const auto* v = At(j, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}
std::optional<int64_t> IntAt(const nlohmann::json& j, std::string_view path) {
  const auto* v = At(j, path);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return std::nullopt;
  return v->get<int64_t>();
}

std::string ChannelName(PaymentChannel c) {
  switch (c) {
    case payment::v1::PAYMENT_CHANNEL_ALIPAY: return "alipay";
    case payment::v1::PAYMENT_CHANNEL_WECHAT_PAY: return "wechatpay";
    case payment::v1::PAYMENT_CHANNEL_UNIONPAY: return "unionpay";
    default: return "unspecified";
  }
}
PaymentChannel ChannelFromName(std::string_view n) {
  if (n == "alipay") return payment::v1::PAYMENT_CHANNEL_ALIPAY;
  if (n == "wechatpay" || n == "wechat") return payment::v1::PAYMENT_CHANNEL_WECHAT_PAY;
  if (n == "unionpay") return payment::v1::PAYMENT_CHANNEL_UNIONPAY;
  return payment::v1::PAYMENT_CHANNEL_UNSPECIFIED;
}

Response Text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body), {}};
}
Response JsonReply(int status, std::string body) {
  return Response{status, "application/json", std::move(body), {}};
}

// The parameters of the query string and the form body together, as Alipay's gateway reads them:
// its official SDKs send the common parameters in the query and biz_content in the body. A
// malformed part or a parameter sent in both is refused.
absl::StatusOr<Fields> QueryAndFormParams(const Request& req) {
  Fields out;
  for (const std::string* part : {&req.query, &req.body}) {
    if (part->empty()) continue;
    auto form = ParseForm(*part);
    if (!form.ok()) return form.status();
    for (auto& [k, v] : *form) {
      if (!out.emplace(k, std::move(v)).second)
        return absl::InvalidArgumentError("parameter in query and body: " + k);
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
  if (auto s = EnsureSandboxKeys(options_.key_dir); !s.ok()) return s;
  auto keys = LoadSandboxKeys(options_.key_dir);
  if (!keys.ok()) return keys.status();
  keys_ = std::move(*keys);
  auto load = [](auto result, crypto::PKey* out) -> absl::Status {
    if (!result.ok()) return result.status();
    *out = *result;
    return absl::OkStatus();
  };
  for (auto s :
       {load(crypto::LoadPublicKey(keys_.alipay_app_public), &alipay_merchant_pub_),
        load(crypto::LoadPrivateKey(keys_.alipay_platform_private), &alipay_platform_priv_),
        load(crypto::LoadPublicKey(keys_.wechat_merchant_public), &wechat_merchant_pub_),
        load(crypto::LoadPrivateKey(keys_.wechat_platform_private), &wechat_platform_priv_),
        load(crypto::LoadPrivateKey(keys_.unionpay_signer_private), &unionpay_signer_priv_),
        load(crypto::LoadPublicKey(keys_.unionpay_merchant_cert), &unionpay_merchant_pub_)}) {
    if (!s.ok()) return s;
  }
  auto serial = crypto::CertSerialHex(keys_.unionpay_merchant_cert);
  if (!serial.ok()) return serial.status();
  unionpay_merchant_cert_id_ = *serial;
  server_ = std::make_unique<server::HttpServer>(
      server::HttpServerOptions{.host = options_.host, .port = options_.port});
  for (const char* method : {"GET", "POST"}) {
    server_->HandlePrefix(method, "/", [this](const Request& r) { return Route(r); });
  }
  if (auto s = server_->Start(); !s.ok()) return s;
  if (options_.public_base.empty())
    options_.public_base = "http://" + options_.host + ":" + std::to_string(server_->port());
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
  std::string date = ShanghaiTime(std::chrono::system_clock::now(), "%Y%m%d");
  char buf[64];
  switch (c) {
    case payment::v1::PAYMENT_CHANNEL_ALIPAY:
      snprintf(buf, sizeof(buf), "%s22001%011lld", date.c_str(), static_cast<long long>(seq_));
      break;
    case payment::v1::PAYMENT_CHANNEL_WECHAT_PAY:
      snprintf(buf, sizeof(buf), "4200%s%010lld", date.c_str(), static_cast<long long>(seq_));
      break;
    default: snprintf(buf, sizeof(buf), "7%s%011lld", date.c_str(), static_cast<long long>(seq_));
  }
  return std::string(buf) + crypto::RandomToken(4);
}

// ---------------------------------------------------------------- Alipay

Response ChannelSandbox::Alipay(const Request& req) {
  auto form = QueryAndFormParams(req);
  if (!form.ok()) return Text(400, "malformed form: " + std::string(form.status().message()));
  Fields& p = *form;
  const std::string method = p["method"];
  auto respond = [&](const Json& node) {
    return JsonReply(200, signatures::AlipayAnswer(alipay_platform_priv_, method, node).value());
  };
  auto fail = [&](const std::string& code, const std::string& sub, const std::string& msg) {
    return respond(
        Json{{"code", code},
             {"msg", code == "20000" ? "Service Currently Unavailable" : "Business Failed"},
             {"sub_code", sub},
             {"sub_msg", msg}});
  };
  if (p["app_id"] != kSandboxAlipayAppId ||
      !signatures::AlipayRequestVerifies(alipay_merchant_pub_, p)) {
    return respond(Json{{"code", "40002"},
                        {"msg", "Invalid Arguments"},
                        {"sub_code", "isv.invalid-signature"},
                        {"sub_msg", "invalid signature"}});
  }
  auto biz = ParseJson(p["biz_content"]);
  if (!biz.ok()) return fail("40002", "isv.invalid-parameter", "biz_content is not JSON");
  std::unique_lock lock(mu_);
  if (InjectError()) return fail("20000", "isp.unknow-error", "injected system error");
  const std::string out_trade_no = StrAt(*biz, "out_trade_no");
  const auto key =
      std::make_pair(static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_trade_no);
  auto it = trades_.find(key);
  if (method == "alipay.trade.precreate") {
    auto amount = YuanToFen(StrAt(*biz, "total_amount"));
    if (out_trade_no.empty() || !amount.ok() || *amount <= 0)
      return fail("40004", "ACQ.INVALID_PARAMETER", "bad out_trade_no / total_amount");
    if (it != trades_.end() && it->second.amount != *amount)
      return fail("40004", "ACQ.CONTEXT_INCONSISTENT", "amount differs");
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_ALIPAY,
              out_trade_no,
              "",
              "CNY",
              p["notify_url"],
              StrAt(*biz, "subject")};
      t.amount = *amount;
      t.created_at = std::chrono::system_clock::now();
      it = trades_.emplace(key, std::move(t)).first;
    }
    return respond(
        Json{{"code", "10000"},
             {"msg", "Success"},
             {"out_trade_no", out_trade_no},
             {"qr_code", options_.public_base + "/sandbox/cashier?channel=alipay&out_trade_no=" +
                             PercentEncode(out_trade_no)}});
  }
  if (method == "alipay.trade.query" || method == "alipay.trade.close") {
    if (it == trades_.end()) return fail("40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist");
    Trade& t = it->second;
    if (method == "alipay.trade.close") {
      if (t.state == "SUCCEEDED")
        return fail("40004", "ACQ.TRADE_STATUS_ERROR", "trade already paid");
      t.state = "CLOSED";
      return respond(Json{{"code", "10000"}, {"msg", "Success"}, {"out_trade_no", t.out_trade_no}});
    }
    std::string status = t.state == "SUCCEEDED" ? "TRADE_SUCCESS"
                         : t.state == "CLOSED"  ? "TRADE_CLOSED"
                                                : "WAIT_BUYER_PAY";
    Json o{{"code", "10000"},
           {"msg", "Success"},
           {"out_trade_no", t.out_trade_no},
           {"trade_no", t.transaction_id},
           {"trade_status", status},
           {"total_amount", YuanText(t.amount)}};
    if (t.state == "SUCCEEDED") o["send_pay_date"] = ShanghaiTime(t.paid_at, "%Y-%m-%d %H:%M:%S");
    return respond(o);
  }
  if (method == "alipay.trade.refund") {
    if (it == trades_.end()) return fail("40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist");
    Trade& t = it->second;
    if (t.state != "SUCCEEDED") return fail("40004", "ACQ.TRADE_STATUS_ERROR", "trade not paid");
    auto amount = YuanToFen(StrAt(*biz, "refund_amount"));
    std::string out_refund_no = StrAt(*biz, "out_request_no");
    if (!amount.ok() || *amount <= 0 || out_refund_no.empty())
      return fail("40004", "ACQ.INVALID_PARAMETER", "bad refund_amount");
    auto rkey =
        std::make_pair(static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_refund_no);
    bool stall = false;
    auto rit = refunds_.find(rkey);
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_)
        if (r.out_trade_no == t.out_trade_no && r.channel == t.channel) refunded += r.amount;
      if (refunded + *amount > t.amount)
        return fail("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "refund exceeds the paid amount");
      RefundRec r{payment::v1::PAYMENT_CHANNEL_ALIPAY, out_refund_no, t.out_trade_no,
                  t.transaction_id + ":" + out_refund_no};
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
    Json node = Json{{"code", "10000"},
                     {"msg", "Success"},
                     {"trade_no", t.transaction_id},
                     {"out_trade_no", t.out_trade_no},
                     {"refund_fee", YuanText(rit->second.amount)},
                     {"fund_change", "Y"}};
    if (stall) {
      ++stats_["refund_timeouts"];
      lock.unlock();
      std::this_thread::sleep_for(options_.refund_timeout);
    }
    return respond(node);
  }
  if (method == "alipay.trade.fastpay.refund.query") {
    std::string out_refund_no = StrAt(*biz, "out_request_no");
    auto rit =
        refunds_.find({static_cast<int>(payment::v1::PAYMENT_CHANNEL_ALIPAY), out_refund_no});
    Json o{{"code", "10000"},
           {"msg", "Success"},
           {"out_trade_no", out_trade_no},
           {"out_request_no", out_refund_no}};
    if (rit != refunds_.end() && rit->second.state == "SUCCEEDED") {
      o["refund_status"] = "REFUND_SUCCESS";
      o["refund_amount"] = YuanText(rit->second.amount);
      o["trade_no"] = it == trades_.end() ? "" : it->second.transaction_id;
    }
    return respond(o);
  }
  if (method == "alipay.data.dataservice.bill.downloadurl.query") {
    return respond(Json{
        {"code", "10000"},
        {"msg", "Success"},
        {"bill_download_url",
         options_.public_base + "/sandbox/bill?channel=alipay&date=" + StrAt(*biz, "bill_date")}});
  }
  return fail("40004", "isv.invalid-method", "unknown method");
}

std::string ChannelSandbox::AlipayNotifyBody(const Trade& t, int64_t amount, bool corrupt) {
  Fields p{{"notify_time", ShanghaiTime(std::chrono::system_clock::now(), "%Y-%m-%d %H:%M:%S")},
           {"notify_type", "trade_status_sync"},
           {"notify_id", crypto::RandomToken(32)},
           {"app_id", kSandboxAlipayAppId},
           {"charset", "utf-8"},
           {"version", "1.0"},
           {"sign_type", "RSA2"},
           {"trade_no", t.transaction_id},
           {"out_trade_no", t.out_trade_no},
           {"trade_status", "TRADE_SUCCESS"},
           {"total_amount", YuanText(amount)},
           {"receipt_amount", YuanText(amount)},
           {"gmt_create", ShanghaiTime(t.created_at, "%Y-%m-%d %H:%M:%S")},
           {"gmt_payment", ShanghaiTime(t.paid_at, "%Y-%m-%d %H:%M:%S")},
           {"subject", t.description}};
  p["sign"] = signatures::AlipaySignNotification(alipay_platform_priv_, p).value();
  // A signature over other content: right key, wrong message.
  if (corrupt) p["sign"] = crypto::RsaSha256Sign(alipay_platform_priv_, "forged").value();
  return FormEncode(p);
}

// ---------------------------------------------------------------- WeChat Pay v3

Response ChannelSandbox::Wechat(const Request& req) {
  auto respond = [&](int status, const std::string& body) {
    Response r = JsonReply(status, body);
    std::string ts = std::to_string(EpochSeconds(std::chrono::system_clock::now()));
    std::string nonce = crypto::RandomToken(32);
    r.headers["Wechatpay-Timestamp"] = ts;
    r.headers["Wechatpay-Nonce"] = nonce;
    r.headers["Wechatpay-Serial"] = kSandboxWechatPlatformSerial;
    r.headers["Wechatpay-Signature"] =
        signatures::WechatPlatformSignature(wechat_platform_priv_, ts, nonce, body).value();
    return r;
  };
  auto error = [&](int status, const std::string& code, const std::string& msg) {
    return respond(status, Json{{"code", code}, {"message", msg}}.dump());
  };
  auto auth = signatures::ParseWechatAuthorization(req.Header("authorization"));
  std::string target = req.path + (req.query.empty() ? "" : "?" + req.query);
  if (!auth.ok() || auth->mchid != kSandboxWechatMchId ||
      auth->serial_no != kSandboxWechatMerchantSerial ||
      !signatures::WechatRequestVerifies(wechat_merchant_pub_, *auth, req.method, target,
                                         req.body)) {
    return error(401, "SIGN_ERROR", "signature verification failed");
  }
  std::unique_lock lock(mu_);
  if (InjectError()) return error(500, "SYSTEM_ERROR", "injected system error");
  const int ch = payment::v1::PAYMENT_CHANNEL_WECHAT_PAY;
  std::string sub = req.path.substr(strlen("/wechatpay"));
  const std::string kTx = "/v3/pay/transactions/";
  const std::string kByNo = "/v3/pay/transactions/out-trade-no/";
  const std::string kRefunds = "/v3/refund/domestic/refunds";
  if (req.method == "POST" && sub.rfind(kByNo, 0) == 0 && sub.size() > 6 &&
      sub.substr(sub.size() - 6) == "/close") {
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
    std::string state = t.state == "SUCCEEDED" ? "SUCCESS"
                        : t.state == "CLOSED"  ? "CLOSED"
                                               : "NOTPAY";
    Json o{{"appid", kSandboxWechatAppId},   {"mchid", kSandboxWechatMchId},
           {"out_trade_no", t.out_trade_no}, {"transaction_id", t.transaction_id},
           {"trade_type", "NATIVE"},         {"trade_state", state},
           {"trade_state_desc", state}};
    if (t.state == "SUCCEEDED")
      o["success_time"] = ShanghaiTime(t.paid_at, "%Y-%m-%dT%H:%M:%S+08:00");
    o["amount"] = Json{{"total", t.amount},
                       {"payer_total", t.amount},
                       {"currency", t.currency},
                       {"payer_currency", t.currency}};
    return respond(200, o.dump());
  }
  if (req.method == "POST" && sub.rfind(kTx, 0) == 0) {
    std::string kind = sub.substr(kTx.size());
    auto body = ParseJson(req.body);
    if (!body.ok()) return error(400, "PARAM_ERROR", "body is not JSON");
    std::string out_trade_no = StrAt(*body, "out_trade_no");
    auto total = IntAt(*body, "amount.total");
    if (out_trade_no.empty() || !total || *total <= 0)
      return error(400, "PARAM_ERROR", "out_trade_no / amount.total");
    std::string currency = StrAt(*body, "amount.currency");
    if (currency.empty()) currency = "CNY";
    auto it = trades_.find({ch, out_trade_no});
    if (it != trades_.end() && it->second.amount != *total)
      return error(400, "INVALID_REQUEST", "out_trade_no reused with another amount");
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_WECHAT_PAY,
              out_trade_no,
              "",
              currency,
              StrAt(*body, "notify_url"),
              StrAt(*body, "description")};
      t.amount = *total;
      t.created_at = std::chrono::system_clock::now();
      it = trades_.emplace(std::make_pair(ch, out_trade_no), std::move(t)).first;
    }
    std::string link = options_.public_base + "/sandbox/cashier?channel=wechatpay&out_trade_no=" +
                       PercentEncode(out_trade_no);
    if (kind == "native") return respond(200, Json{{"code_url", link}}.dump());
    if (kind == "h5") return respond(200, Json{{"h5_url", link}}.dump());
    return respond(
        200, Json{{"prepay_id", "wx" + crypto::Sha256Hex(out_trade_no).substr(0, 30)}}.dump());
  }
  if (req.method == "POST" && sub == kRefunds) {
    auto body = ParseJson(req.body);
    if (!body.ok()) return error(400, "PARAM_ERROR", "body is not JSON");
    std::string out_trade_no = StrAt(*body, "out_trade_no");
    std::string out_refund_no = StrAt(*body, "out_refund_no");
    auto amount = IntAt(*body, "amount.refund");
    auto it = trades_.find({ch, out_trade_no});
    if (it == trades_.end()) return error(404, "RESOURCE_NOT_EXISTS", "order does not exist");
    if (it->second.state != "SUCCEEDED") return error(400, "INVALID_REQUEST", "order not paid");
    if (!amount || *amount <= 0 || out_refund_no.empty())
      return error(400, "PARAM_ERROR", "amount.refund / out_refund_no");
    auto rit = refunds_.find({ch, out_refund_no});
    bool stall = false;
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_)
        if (r.out_trade_no == out_trade_no && r.channel == ch) refunded += r.amount;
      if (refunded + *amount > it->second.amount)
        return error(400, "INVALID_REQUEST", "refund exceeds the paid amount");
      RefundRec r{payment::v1::PAYMENT_CHANNEL_WECHAT_PAY, out_refund_no, out_trade_no,
                  "50" + crypto::RandomToken(10) + std::to_string(++seq_),
                  StrAt(*body, "notify_url")};
      r.amount = *amount;
      r.created_at = std::chrono::system_clock::now();
      r.done_at = r.created_at + options_.refund_delay;
      if (faults_.refund_timeout > 0) --faults_.refund_timeout, stall = true;
      rit = refunds_.emplace(std::make_pair(ch, out_refund_no), std::move(r)).first;
    }
    const RefundRec& r = rit->second;
    std::string out =
        Json{{"refund_id", r.refund_id},
             {"out_refund_no", r.out_refund_no},
             {"out_trade_no", r.out_trade_no},
             {"transaction_id", it->second.transaction_id},
             {"status", r.state == "SUCCEEDED" ? "SUCCESS" : "PROCESSING"},
             {"amount",
              Json{{"refund", r.amount}, {"total", it->second.amount}, {"currency", "CNY"}}}}
            .dump();
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
    return respond(200, Json{{"refund_id", r.refund_id},
                             {"out_refund_no", r.out_refund_no},
                             {"out_trade_no", r.out_trade_no},
                             {"status", r.state == "SUCCEEDED" ? "SUCCESS" : "PROCESSING"},
                             {"amount", Json{{"refund", r.amount}, {"currency", "CNY"}}}}
                            .dump());
  }
  if (req.method == "GET" && sub == "/v3/bill/tradebill") {
    auto q = ParseForm(req.query);
    std::string date = q.ok() ? (*q)["bill_date"] : "";
    std::string csv = BillCsv(BillLocked(payment::v1::PAYMENT_CHANNEL_WECHAT_PAY, date));
    return respond(200, Json{{"hash_type", "SHA1"},
                             {"hash_value", crypto::Sha1Hex(csv)},
                             {"download_url", options_.public_base +
                                                  "/sandbox/bill?channel=wechatpay&date=" + date}}
                            .dump());
  }
  return error(404, "NOT_FOUND", "no such API in the sandbox");
}

ChannelSandbox::Outgoing ChannelSandbox::WechatNotification(const std::string& url,
                                                            const std::string& event,
                                                            const std::string& resource_json,
                                                            bool corrupt) {
  const std::string original_type = event.rfind("REFUND", 0) == 0 ? "refund" : "transaction";
  Json resource =
      signatures::WechatSealResource(keys_.wechat_apiv3_key, original_type, resource_json).value();
  std::string body = Json{
      {"id", crypto::RandomToken(8) + "-" + crypto::RandomToken(8)},
      {"create_time", ShanghaiTime(std::chrono::system_clock::now(), "%Y-%m-%dT%H:%M:%S+08:00")},
      {"resource_type", "encrypt-resource"},
      {"event_type", event},
      {"summary", event == "TRANSACTION.SUCCESS" ? "支付成功" : "退款成功"},
      {"resource",
       std::move(
           resource)}}.dump();
  std::string ts = std::to_string(EpochSeconds(std::chrono::system_clock::now()));
  std::string hn = crypto::RandomToken(32);
  // A corrupted notification carries a signature over another body.
  std::string sig = signatures::WechatPlatformSignature(wechat_platform_priv_, ts, hn,
                                                        corrupt ? body + "forged" : body)
                        .value();
  Outgoing o;
  o.url = url;
  o.body = body;
  o.headers = {{"Content-Type", "application/json"},
               {"Wechatpay-Timestamp", ts},
               {"Wechatpay-Nonce", hn},
               {"Wechatpay-Serial", kSandboxWechatPlatformSerial},
               {"Wechatpay-Signature", sig}};
  return o;
}

// ---------------------------------------------------------------- UnionPay

std::string ChannelSandbox::UnionpayNotifyBody(const std::map<std::string, std::string>& fields,
                                               bool corrupt) {
  Fields p = fields;
  p["version"] = "5.1.0";
  p["encoding"] = "UTF-8";
  p["signMethod"] = "01";
  p["merId"] = kSandboxUnionpayMerId;
  p["signPubKeyCert"] = keys_.unionpay_signer_cert;
  (void)signatures::UnionpaySign(unionpay_signer_priv_, p);
  if (corrupt) p["signature"] = crypto::RsaSha256Sign(unionpay_signer_priv_, "forged").value();
  return FormEncode(p);
}

Response ChannelSandbox::Unionpay(const Request& req) {
  auto form = ParseForm(req.body);
  auto respond = [&](Fields p) {
    p["version"] = "5.1.0";
    p["encoding"] = "UTF-8";
    p["signMethod"] = "01";
    p["merId"] = kSandboxUnionpayMerId;
    p["signPubKeyCert"] = keys_.unionpay_signer_cert;
    (void)signatures::UnionpaySign(unionpay_signer_priv_, p);
    return Response{200, "application/x-www-form-urlencoded;charset=UTF-8", FormEncode(p), {}};
  };
  if (!form.ok()) return respond({{"respCode", "30"}, {"respMsg", "报文格式错误"}});
  Fields& p = *form;
  if (p["certId"] != unionpay_merchant_cert_id_ ||
      !signatures::UnionpayVerifies(unionpay_merchant_pub_, p)) {
    return respond({{"respCode", "11"}, {"respMsg", "验证签名失败"}});
  }
  std::unique_lock lock(mu_);
  if (InjectError())
    return respond(
        {{"respCode", "06"}, {"respMsg", "系统繁忙 (injected)"}, {"orderId", p["orderId"]}});
  const int ch = payment::v1::PAYMENT_CHANNEL_UNIONPAY;
  const std::string api = req.path.substr(strlen("/unionpay"));
  if (api == "/gateway/api/backTransReq.do" && p["txnType"] == "01") {
    auto amount = Digits(p["txnAmt"]);
    if (p["orderId"].empty() || !amount.ok() || *amount <= 0)
      return respond({{"respCode", "30"}, {"respMsg", "txnAmt"}});
    auto it = trades_.find({ch, p["orderId"]});
    if (it != trades_.end() && it->second.amount != *amount)
      return respond({{"respCode", "12"}, {"respMsg", "重复交易"}});
    if (it == trades_.end()) {
      Trade t{payment::v1::PAYMENT_CHANNEL_UNIONPAY,
              p["orderId"],
              "",
              "CNY",
              p["backUrl"],
              p["orderDesc"]};
      t.amount = *amount;
      t.created_at = std::chrono::system_clock::now();
      t.txn_time = p["txnTime"];
      it = trades_.emplace(std::make_pair(ch, p["orderId"]), std::move(t)).first;
    }
    std::string qr = options_.public_base + "/sandbox/cashier?channel=unionpay&out_trade_no=" +
                     PercentEncode(p["orderId"]);
    return respond({{"respCode", "00"},
                    {"respMsg", "成功[0000000]"},
                    {"txnType", "01"},
                    {"orderId", p["orderId"]},
                    {"txnTime", p["txnTime"]},
                    {"qrCode", qr}});
  }
  if (api == "/gateway/api/backTransReq.do" && p["txnType"] == "04") {
    auto amount = Digits(p["txnAmt"]);
    auto tit = std::find_if(trades_.begin(), trades_.end(), [&](auto& kv) {
      return kv.first.first == ch && kv.second.transaction_id == p["origQryId"] &&
             !p["origQryId"].empty();
    });
    if (tit == trades_.end() || tit->second.state != "SUCCEEDED")
      return respond({{"respCode", "35"}, {"respMsg", "原交易不存在或状态不正确"}});
    if (!amount.ok() || *amount <= 0 || p["orderId"].empty())
      return respond({{"respCode", "30"}, {"respMsg", "txnAmt"}});
    auto rit = refunds_.find({ch, p["orderId"]});
    bool stall = false;
    if (rit == refunds_.end()) {
      int64_t refunded = 0;
      for (auto& [k, r] : refunds_)
        if (r.out_trade_no == tit->second.out_trade_no && r.channel == ch) refunded += r.amount;
      if (refunded + *amount > tit->second.amount)
        return respond({{"respCode", "61"}, {"respMsg", "退货金额超限"}});
      RefundRec r{payment::v1::PAYMENT_CHANNEL_UNIONPAY,
                  p["orderId"],
                  tit->second.out_trade_no,
                  NewTransactionId(payment::v1::PAYMENT_CHANNEL_UNIONPAY),
                  p["backUrl"],
                  p["txnTime"]};
      r.amount = *amount;
      r.created_at = std::chrono::system_clock::now();
      r.done_at = r.created_at + options_.refund_delay;
      if (faults_.refund_timeout > 0) --faults_.refund_timeout, stall = true;
      rit = refunds_.emplace(std::make_pair(ch, p["orderId"]), std::move(r)).first;
    }
    Fields answer{{"respCode", "00"},
                  {"respMsg", "成功[0000000]"},
                  {"txnType", "04"},
                  {"orderId", p["orderId"]},
                  {"queryId", rit->second.refund_id},
                  {"txnAmt", std::to_string(rit->second.amount)}};
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
      return respond(
          {{"respCode", "00"},
           {"respMsg", "成功"},
           {"origRespCode", orig},
           {"origRespMsg", t.state},
           {"txnType", "01"},
           {"orderId", t.out_trade_no},
           {"queryId", t.transaction_id},
           {"txnAmt", std::to_string(t.amount)},
           {"currencyCode", "156"},
           {"txnTime", t.txn_time},
           {"payTime", t.state == "SUCCEEDED" ? ShanghaiTime(t.paid_at, "%Y%m%d%H%M%S") : ""}});
    }
    auto rit = refunds_.find({ch, p["orderId"]});
    if (rit != refunds_.end()) {
      const RefundRec& r = rit->second;
      return respond({{"respCode", "00"},
                      {"respMsg", "成功"},
                      {"origRespCode", r.state == "SUCCEEDED" ? "00" : "05"},
                      {"origRespMsg", r.state},
                      {"txnType", "04"},
                      {"orderId", r.out_refund_no},
                      {"queryId", r.refund_id},
                      {"txnAmt", std::to_string(r.amount)},
                      {"currencyCode", "156"}});
    }
    return respond({{"respCode", "34"}, {"respMsg", "查无此交易"}, {"orderId", p["orderId"]}});
  }
  if (api == "/gateway/api/fileTransfer.do") {
    std::string csv = BillCsv(BillLocked(payment::v1::PAYMENT_CHANNEL_UNIONPAY, p["billDate"]));
    return respond(
        {{"respCode", "00"},
         {"respMsg", "成功"},
         {"fileContent", crypto::ToBase64(csv)},
         {"fileName", "INN" + p["settleDate"] + "ZM_" + std::string(kSandboxUnionpayMerId)}});
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
    std::string res = Json{{"mchid", kSandboxWechatMchId},
                           {"appid", kSandboxWechatAppId},
                           {"out_trade_no", t.out_trade_no},
                           {"transaction_id", t.transaction_id},
                           {"trade_type", "NATIVE"},
                           {"trade_state", "SUCCESS"},
                           {"trade_state_desc", "支付成功"},
                           {"success_time", ShanghaiTime(t.paid_at, "%Y-%m-%dT%H:%M:%S+08:00")},
                           {"amount", Json{{"total", amount},
                                           {"payer_total", amount},
                                           {"currency", t.currency},
                                           {"payer_currency", t.currency}}}}
                          .dump();
    o = WechatNotification(t.notify_url, "TRANSACTION.SUCCESS", res, corrupt);
  } else {
    o.url = t.notify_url;
    o.body = UnionpayNotifyBody({{"txnType", "01"},
                                 {"txnSubType", "07"},
                                 {"bizType", "000000"},
                                 {"accessType", "0"},
                                 {"orderId", t.out_trade_no},
                                 {"txnTime", t.txn_time},
                                 {"txnAmt", std::to_string(amount)},
                                 {"currencyCode", "156"},
                                 {"queryId", t.transaction_id},
                                 {"respCode", "00"},
                                 {"respMsg", "成功[0000000]"},
                                 {"payTime", ShanghaiTime(t.paid_at, "%Y%m%d%H%M%S")},
                                 {"traceTime", ShanghaiTime(t.paid_at, "%m%d%H%M%S")}},
                                corrupt);
    o.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  }
  o.what = ChannelName(t.channel) + " payment " + t.out_trade_no;
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
    std::string res = Json{{"mchid", kSandboxWechatMchId},
                           {"out_trade_no", r.out_trade_no},
                           {"transaction_id", tit->second.transaction_id},
                           {"out_refund_no", r.out_refund_no},
                           {"refund_id", r.refund_id},
                           {"refund_status", "SUCCESS"},
                           {"success_time", ShanghaiTime(r.done_at, "%Y-%m-%dT%H:%M:%S+08:00")},
                           {"amount", Json{{"total", tit->second.amount}, {"refund", r.amount}}}}
                          .dump();
    o = WechatNotification(r.notify_url, "REFUND.SUCCESS", res, false);
  } else {
    o.url = r.notify_url;
    o.body = UnionpayNotifyBody({{"txnType", "04"},
                                 {"txnSubType", "00"},
                                 {"bizType", "000000"},
                                 {"accessType", "0"},
                                 {"orderId", r.out_refund_no},
                                 {"txnTime", r.txn_time},
                                 {"txnAmt", std::to_string(r.amount)},
                                 {"currencyCode", "156"},
                                 {"queryId", r.refund_id},
                                 {"origQryId", tit->second.transaction_id},
                                 {"respCode", "00"},
                                 {"respMsg", "成功[0000000]"}},
                                false);
    o.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}};
  }
  o.what = ChannelName(r.channel) + " refund " + r.out_refund_no;
  Enqueue(std::move(o), true, nullptr);
}

void ChannelSandbox::Enqueue(Outgoing o, bool allow_faults, int64_t*) {
  o.due = std::chrono::system_clock::now() + std::chrono::milliseconds(faults_.delay_ms);
  int copies = 1;
  if (allow_faults && faults_.duplicate > 1)
    copies = faults_.duplicate, faults_.duplicate = 0, ++stats_["duplicated"];
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

std::vector<BillLine> ChannelSandbox::BillLocked(PaymentChannel c, const std::string& date) {
  std::vector<BillLine> out;
  for (auto& [k, t] : trades_) {
    if (t.channel != c || t.state != "SUCCEEDED" || ShanghaiTime(t.paid_at, "%Y-%m-%d") != date)
      continue;
    BillLine r;
    r.out_trade_no = t.out_trade_no;
    r.transaction_id = t.transaction_id;
    r.amount_fen = t.amount;
    r.currency = t.currency;
    r.time = t.paid_at;
    out.push_back(r);
  }
  for (auto& [k, rf] : refunds_) {
    if (rf.channel != c || rf.state != "SUCCEEDED" || ShanghaiTime(rf.done_at, "%Y-%m-%d") != date)
      continue;
    BillLine r;
    r.refund = true;
    r.out_trade_no = rf.out_trade_no;
    auto tit = trades_.find({static_cast<int>(c), rf.out_trade_no});
    r.transaction_id = tit == trades_.end() ? "" : tit->second.transaction_id;
    r.out_refund_no = rf.out_refund_no;
    r.channel_refund_id = rf.refund_id;
    r.amount_fen = rf.amount;
    r.currency = "CNY";
    r.time = rf.done_at;
    out.push_back(r);
  }
  for (const auto& r : planted_) {
    // planted records carry their channel's name in channel_refund_id until billed
    if (r.channel_refund_id != ChannelName(c) || ShanghaiTime(r.time, "%Y-%m-%d") != date) continue;
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
    auto next =
        std::min_element(queue_.begin(), queue_.end(),
                         [](const Outgoing& a, const Outgoing& b) { return a.due < b.due; });
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
      auto resp = HttpPost(o.url, o.headers, o.body, std::chrono::milliseconds(5000));
      bool ok = resp.ok() && resp->status >= 200 && resp->status < 300 &&
                (o.url.find("/alipay") == std::string::npos || resp->body == "success");
      std::lock_guard lock(mu_);
      --stats_["deliveries_in_flight"];
      ++stats_[ok ? "delivered" : "delivery_failed"];
      if (!ok) {
        spdlog::info("sandbox: notification {} to {} failed (attempt {}): {}", o.what, o.url,
                     o.attempt + 1,
                     resp.ok() ? std::to_string(resp->status) + " " + resp->body.substr(0, 100)
                               : resp.status().ToString());
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
  Fields p = QueryAndFormParams(req).value_or(Fields{});
  std::lock_guard lock(mu_);
  PaymentChannel c = ChannelFromName(p["channel"]);
  if (req.path == "/sandbox/pay" || req.path == "/sandbox/cashier") {
    auto it = trades_.find({static_cast<int>(c), p["out_trade_no"]});
    if (it == trades_.end())
      return Text(404, "no such trade at " + ChannelName(c) + ": " + p["out_trade_no"]);
    Trade& t = it->second;
    if (req.path == "/sandbox/cashier" && req.method == "GET") {
      return Text(200, "Orderly channel sandbox cashier (" + ChannelName(c) + ")\ntrade " +
                           t.out_trade_no + "\namount " + YuanText(t.amount) + " " + t.currency +
                           "\nstate " + t.state + "\npay: curl -X POST '" + options_.public_base +
                           "/sandbox/pay?channel=" + ChannelName(c) +
                           "&out_trade_no=" + PercentEncode(t.out_trade_no) + "'\n");
    }
    if (t.state == "SUCCEEDED")
      return JsonReply(200, Json{{"state", t.state}, {"transaction_id", t.transaction_id}}.dump());
    // force=1: the buyer paid just as the merchant closed the trade (a late payment).
    if (t.state == "CLOSED" && p["force"] != "1") return Text(409, "trade is closed");
    PayLocked(t);
    return JsonReply(200, Json{{"state", t.state}, {"transaction_id", t.transaction_id}}.dump());
  }
  if (req.path == "/sandbox/faults") {
    if (p["reset"] == "1") faults_ = Faults{};
    auto num = [&](const char* k, auto* out) {
      if (p.count(k))
        *out = static_cast<std::remove_pointer_t<decltype(out)>>(std::atof(p[k].c_str()));
    };
    num("drop", &faults_.drop);
    num("duplicate", &faults_.duplicate);
    num("delay_ms", &faults_.delay_ms);
    num("reorder", &faults_.reorder);
    num("wrong_amount", &faults_.wrong_amount);
    num("bad_signature", &faults_.bad_signature);
    num("refund_timeout", &faults_.refund_timeout);
    num("error_rate", &faults_.error_rate);
    return JsonReply(200, Json{{"drop", faults_.drop},
                               {"duplicate", faults_.duplicate},
                               {"delay_ms", faults_.delay_ms},
                               {"reorder", faults_.reorder},
                               {"wrong_amount", faults_.wrong_amount},
                               {"bad_signature", faults_.bad_signature},
                               {"refund_timeout", faults_.refund_timeout},
                               {"error_rate", faults_.error_rate}}
                              .dump());
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
    for (auto& [k, r] : refunds_)
      if (r.channel == c && r.out_trade_no == it->second.out_trade_no && r.state == "SUCCEEDED")
        refunded += r.amount;
    return JsonReply(200, Json{{"state", it->second.state},
                               {"transaction_id", it->second.transaction_id},
                               {"amount", it->second.amount},
                               {"refunded", refunded}}
                              .dump());
  }
  if (req.path == "/sandbox/bill/plant") {
    // A record only the channel has: MISSING_LOCAL for reconciliation.
    BillLine r;
    r.refund = p["kind"] == "refund" ? true : false;
    r.out_trade_no = p["out_trade_no"];
    r.transaction_id = p["transaction_id"].empty() ? NewTransactionId(c) : p["transaction_id"];
    r.out_refund_no = p["out_refund_no"];
    r.channel_refund_id = ChannelName(c);  // channel tag; cleared when billed
    auto amount = Digits(p["amount"]);
    r.amount_fen = amount.ok() ? *amount : 1;
    r.currency = "CNY";
    r.time = std::chrono::system_clock::now();
    planted_.push_back(r);
    return Text(200, "planted");
  }
  if (req.path == "/sandbox/bill") {
    auto records = BillLocked(c, p["date"]);
    return Response{200, "text/csv; charset=utf-8", BillCsv(records), {}};
  }
  if (req.path == "/sandbox/stats") {
    Json o(stats_);
    o["trades"] = trades_.size();
    o["refunds"] = refunds_.size();
    return JsonReply(200, o.dump());
  }
  return Text(404, "not found");
}

}  // namespace orderly::sandbox
