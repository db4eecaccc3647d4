// UnionPay online gateway (5.1.0) style: form POSTs to backTransReq.do / queryTrans.do /
// fileTransfer.do; signMethod 01: SHA256withRSA over the SHA-256 hex of the sorted parameters.
// The merchant signs with its key and names its certificate (certId); UnionPay's answers and
// notifications carry their signing certificate (signPubKeyCert), which must chain to the
// configured root and carry the expected CN before its key is trusted. Notifications are
// acknowledged with HTTP 200.
#include "channel/channel.hpp"
#include "channel/crypto.hpp"
#include "channel/http_client.hpp"
#include "channel/protocol.hpp"
#include "channel/wire_util.hpp"
#include "orderly/core/absl_compat.hpp"

namespace orderly::payment {
namespace {

using wire::Params;

class UnionPayChannel : public Channel {
 public:
  UnionPayChannel(UnionPayConfig c, crypto::KeyPtr key, std::string cert_id, ClockPtr clock)
      : c_(std::move(c)),
        key_(std::move(key)),
        cert_id_(std::move(cert_id)),
        clock_(std::move(clock)) {}

  PaymentChannel id() const override { return v1::PAYMENT_CHANNEL_UNIONPAY; }

  absl::StatusOr<ChannelCreateResult> CreatePayment(const ChannelCreateRequest& req) override {
    Params p = Base("01", "07", req.out_trade_no, req.created_at);
    p["channelType"] = "08";
    p["txnAmt"] = std::to_string(req.amount_minor);
    p["currencyCode"] = "156";
    p["backUrl"] = c_.notify_url;
    p["payTimeout"] = ChinaTime(req.expires_at, "%Y%m%d%H%M%S");
    p["orderDesc"] = req.description;
    auto resp = Call("/gateway/api/backTransReq.do", p);
    if (!resp.ok()) return resp.status();
    if ((*resp)["respCode"] != "00") return RespError(*resp);
    ChannelCreateResult out;
    std::string qr = (*resp)["qrCode"];
    if (qr.empty()) return absl::UnavailableError("unionpay: answer without qrCode");
    if (req.method == v1::PAYMENT_METHOD_NATIVE_QR)
      out.qr_code = qr;
    else if (req.method == v1::PAYMENT_METHOD_APP)
      out.app_params["tn"] = (*resp)["tn"].empty() ? qr : (*resp)["tn"];
    else
      out.pay_url = qr;
    return out;
  }

  absl::StatusOr<ChannelTrade> QueryPayment(const TradeRef& t) override {
    Params p = Base("00", "00", t.out_trade_no, t.created_at);
    auto resp = Call("/gateway/api/queryTrans.do", p);
    if (!resp.ok()) return resp.status();
    Params& r = *resp;
    ChannelTrade out;
    out.out_trade_no = t.out_trade_no;
    if (r["respCode"] == "34") return out;  // no such trade
    if (r["respCode"] != "00") return RespError(r);
    return TradeFromParams(r, r["origRespCode"]);
  }

  absl::Status ClosePayment(const TradeRef& t) override {
    // The gateway has no close for an unpaid QR trade: it lapses at payTimeout. Make sure it has
    // not been paid meanwhile; a later payment still arrives (and is refunded as paid-after-close).
    auto trade = QueryPayment(t);
    if (!trade.ok()) return trade.status();
    if (trade->state == TradeState::kSucceeded)
      return absl::FailedPreconditionError("already paid");
    return absl::OkStatus();
  }

  absl::StatusOr<ChannelRefund> Refund(const ChannelRefundRequest& r) override {
    Params p = Base("04", "00", r.out_refund_no, r.created_at);
    p["channelType"] = "07";
    p["origQryId"] = r.trade.transaction_id;
    p["txnAmt"] = std::to_string(r.amount_minor);
    p["backUrl"] = c_.notify_url;
    auto resp = Call("/gateway/api/backTransReq.do", p);
    if (!resp.ok()) return resp.status();
    Params& a = *resp;
    // 03/04/05: accepted but the result is unknown yet; query later.
    if (a["respCode"] == "03" || a["respCode"] == "04" || a["respCode"] == "05") {
      return ChannelRefund{RefundState::kProcessing, r.trade.out_trade_no,
                           r.out_refund_no,          a["queryId"],
                           r.amount_minor,           ""};
    }
    if (a["respCode"] != "00") return RespError(a);
    // 00 on a refund means "accepted": the final result comes by notification or query.
    return ChannelRefund{RefundState::kProcessing, r.trade.out_trade_no,
                         r.out_refund_no,          a["queryId"],
                         r.amount_minor,           ""};
  }

  absl::StatusOr<ChannelRefund> QueryRefund(const ChannelRefundRequest& r) override {
    Params p = Base("00", "00", r.out_refund_no, r.created_at);
    auto resp = Call("/gateway/api/queryTrans.do", p);
    if (!resp.ok()) return resp.status();
    Params& a = *resp;
    ChannelRefund out;
    out.out_trade_no = r.trade.out_trade_no;
    out.out_refund_no = r.out_refund_no;
    if (a["respCode"] == "34") return out;
    if (a["respCode"] != "00") return RespError(a);
    out.channel_refund_id = a["queryId"];
    auto amount = wire::ParseInt64(a["txnAmt"]);
    out.amount_minor = amount.ok() ? *amount : r.amount_minor;
    const std::string& orig = a["origRespCode"];
    if (orig == "00")
      out.state = RefundState::kSucceeded;
    else if (orig == "03" || orig == "04" || orig == "05")
      out.state = RefundState::kProcessing;
    else
      out.state = RefundState::kFailed,
      out.error = "unionpay origRespCode " + orig + ": " + a["origRespMsg"];
    return out;
  }

  absl::StatusOr<std::vector<BillRecord>> DownloadBill(const std::string& bill_date) override {
    if (bill_date.size() != 10) return absl::InvalidArgumentError("bill_date must be YYYY-MM-DD");
    Params p{{"version", "5.1.0"},
             {"encoding", "UTF-8"},
             {"signMethod", "01"},
             {"txnType", "76"},
             {"txnSubType", "01"},
             {"bizType", "000000"},
             {"accessType", "0"},
             {"merId", c_.mer_id},
             {"settleDate", bill_date.substr(5, 2) + bill_date.substr(8, 2)},
             {"billDate", bill_date},
             {"txnTime", ChinaTime(clock_->Now(), "%Y%m%d%H%M%S")},
             {"fileType", "00"},
             {"certId", cert_id_}};
    auto resp = Call("/gateway/api/fileTransfer.do", p);
    if (!resp.ok()) return resp.status();
    if ((*resp)["respCode"] != "00") return RespError(*resp);
    auto csv = crypto::Base64Decode((*resp)["fileContent"]);
    if (!csv.ok()) return absl::DataLossError("unionpay: fileContent is not Base64");
    return ParseBillCsv(*csv);
  }

  absl::StatusOr<ChannelNotification> ParseNotification(
      const std::string& body, const std::map<std::string, std::string>&) override {
    auto form = wire::ParseFormStrict(body);
    if (!form.ok())
      return absl::InvalidArgumentError(ToAbsl("unionpay notify: unreadable body (" +
                                               std::string(form.status().message()) + ")"));
    if (auto s = Verify(*form); !s.ok()) return s;
    Params& p = *form;
    if (p["merId"] != c_.mer_id)
      return absl::InvalidArgumentError("unionpay notify: merId is not ours");
    ChannelNotification n;
    n.notify_id = p["queryId"] + ":" + p["txnType"] + ":" + p["respCode"];
    if (p["txnType"] == "01") {
      auto t = TradeFromParams(p, p["respCode"]);
      if (!t.ok())
        return absl::InvalidArgumentError(
            ToAbsl("unionpay notify: " + std::string(t.status().message())));
      n.trade = std::move(*t);
    } else if (p["txnType"] == "04") {
      n.kind = ChannelNotification::Kind::kRefund;
      n.refund.out_refund_no = p["orderId"];
      n.refund.channel_refund_id = p["queryId"];
      auto amount = wire::ParseInt64(p["txnAmt"]);
      if (!amount.ok() || n.refund.out_refund_no.empty())
        return absl::InvalidArgumentError("unionpay notify: orderId / txnAmt missing");
      n.refund.amount_minor = *amount;
      n.refund.state = p["respCode"] == "00" ? RefundState::kSucceeded : RefundState::kFailed;
      n.refund.error = p["respCode"] == "00" ? "" : "unionpay respCode " + p["respCode"];
    } else {
      return absl::InvalidArgumentError("unionpay notify: unknown txnType");
    }
    return n;
  }

  NotifyAck Ack(bool ok, const std::string& message) const override {
    // Anything but 200 makes UnionPay re-send.
    return ok ? NotifyAck{200, "text/plain", "ok"} : NotifyAck{500, "text/plain", message};
  }

 private:
  Params Base(const std::string& txn_type, const std::string& sub, const std::string& order_id,
              TimePoint txn_time) const {
    return Params{{"version", "5.1.0"},  {"encoding", "UTF-8"},
                  {"signMethod", "01"},  {"txnType", txn_type},
                  {"txnSubType", sub},   {"bizType", "000000"},
                  {"accessType", "0"},   {"merId", c_.mer_id},
                  {"orderId", order_id}, {"txnTime", ChinaTime(txn_time, "%Y%m%d%H%M%S")},
                  {"certId", cert_id_}};
  }

  absl::Status Verify(const Params& p) const {
    auto cert = p.find("signPubKeyCert");
    auto sig = p.find("signature");
    if (cert == p.end() || sig == p.end())
      return absl::UnauthenticatedError("unionpay: signature or certificate missing");
    auto info = crypto::VerifyCertificate(cert->second, c_.root_cert_pem);
    if (!info.ok())
      return absl::UnauthenticatedError(
          ToAbsl("unionpay: " + std::string(info.status().message())));
    if (info->common_name.rfind(c_.signer_cn_prefix, 0) != 0) {
      return absl::UnauthenticatedError("unionpay: signing certificate is not UnionPay's");
    }
    if (!crypto::VerifySha256Rsa(info->public_key, protocol::UnionpaySigningString(p),
                                 sig->second)) {
      return absl::UnauthenticatedError("unionpay: signature does not verify");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Params> Call(const std::string& path, Params p) {
    if (auto s = protocol::UnionpaySign(p, key_); !s.ok()) return s;
    HttpClientRequest req;
    req.method = "POST";
    req.url = c_.base_url + path;
    req.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=UTF-8";
    req.body = wire::EncodeForm(p);
    req.timeout = c_.timeout;
    auto resp = HttpFetch(req);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200)
      return absl::UnavailableError(ToAbsl("unionpay: HTTP " + std::to_string(resp->status)));
    auto form = wire::ParseFormStrict(resp->body);
    if (!form.ok()) return absl::UnavailableError("unionpay: malformed answer");
    if (auto s = Verify(*form); !s.ok()) return s;
    return form;
  }

  static absl::Status RespError(Params& r) {
    std::string msg = "unionpay respCode " + r["respCode"] + ": " + r["respMsg"];
    const std::string& c = r["respCode"];
    if (c == "03" || c == "04" || c == "05" || c == "06" || c == "94")
      return absl::UnavailableError(ToAbsl(msg));
    return absl::FailedPreconditionError(ToAbsl(msg));
  }

  static absl::StatusOr<ChannelTrade> TradeFromParams(Params& r, const std::string& result_code) {
    ChannelTrade t;
    t.out_trade_no = r["orderId"];
    t.transaction_id = r["queryId"];
    t.currency =
        r["currencyCode"] == "156" || r["currencyCode"].empty() ? "CNY" : r["currencyCode"];
    auto amount = wire::ParseInt64(r["txnAmt"]);
    if (t.out_trade_no.empty() || !amount.ok())
      return absl::InvalidArgumentError("orderId / txnAmt missing");
    t.amount_minor = *amount;
    if (result_code == "00" || result_code == "A6") {
      if (t.transaction_id.empty()) return absl::InvalidArgumentError("success without queryId");
      t.state = TradeState::kSucceeded;
      t.paid_at = ParseChinaTime(r["txnTime"], "%Y%m%d%H%M%S");
      if (!r["traceTime"].empty())
        t.paid_at =
            ParseChinaTime(r["payTime"].empty() ? r["txnTime"] : r["payTime"], "%Y%m%d%H%M%S");
    } else if (result_code == "03" || result_code == "04" || result_code == "05" ||
               result_code.empty()) {
      t.state = TradeState::kPending;
    } else if (result_code == "CLOSED") {
      t.state = TradeState::kClosed;
    } else {
      t.state = TradeState::kFailed;
      t.failure = "unionpay " + result_code + ": " + r["origRespMsg"] + r["respMsg"];
    }
    return t;
  }

  UnionPayConfig c_;
  crypto::KeyPtr key_;
  std::string cert_id_;
  ClockPtr clock_;
};

}  // namespace

absl::StatusOr<ChannelPtr> MakeUnionPayChannel(UnionPayConfig config, ClockPtr clock) {
  auto key = crypto::PrivateKeyFromPem(config.merchant_private_key_pem);
  if (!key.ok())
    return absl::InvalidArgumentError(
        ToAbsl("unionpay merchant key: " + std::string(key.status().message())));
  auto serial = crypto::CertificateSerialHex(config.merchant_cert_pem);
  if (!serial.ok())
    return absl::InvalidArgumentError(
        ToAbsl("unionpay merchant cert: " + std::string(serial.status().message())));
  if (config.root_cert_pem.empty())
    return absl::InvalidArgumentError("unionpay: trusted root certificate missing");
  return ChannelPtr(new UnionPayChannel(std::move(config), *key, *serial, std::move(clock)));
}

}  // namespace orderly::payment
