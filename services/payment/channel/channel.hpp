#pragma once
// One interface for the third-party payment channels. Each adapter (alipay_channel.cpp,
// wechat_pay_channel.cpp, unionpay_channel.cpp) speaks its channel's public API style and signing;
// endpoints and keys come from config, so the sandbox and the real channel differ only there.
//
// Status codes at this boundary: UNAVAILABLE = the channel did not act (connect failure, its
// SYSTEM_ERROR, 5xx; retry), DEADLINE_EXCEEDED = sent but no answer (in doubt: query before
// acting again), UNAUTHENTICATED = the channel's answer or notification failed verification,
// FAILED_PRECONDITION = the channel refused for a business reason (message says which).
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/payment/v1/payment.pb.h"

namespace orderly::payment {

using v1::PaymentChannel;

std::string ChannelName(PaymentChannel c);              // "alipay", "wechatpay", "unionpay"
PaymentChannel ChannelFromName(std::string_view name);  // UNSPECIFIED when unknown

struct ChannelCreateRequest {
  std::string out_trade_no;  // our payment_id
  int64_t amount_minor = 0;
  std::string currency;
  std::string description;
  v1::PaymentMethod method = v1::PAYMENT_METHOD_NATIVE_QR;
  TimePoint created_at;
  TimePoint expires_at;
};

struct ChannelCreateResult {
  std::string pay_url;
  std::string qr_code;
  std::map<std::string, std::string> app_params;
};

// What a query / close / refund needs to address a trade.
struct TradeRef {
  std::string out_trade_no;
  std::string transaction_id;  // once known
  int64_t amount_minor = 0;
  std::string currency;
  TimePoint created_at;
};

enum class TradeState { kNotFound, kPending, kSucceeded, kFailed, kClosed };
std::string_view TradeStateName(TradeState s);

struct ChannelTrade {
  TradeState state = TradeState::kNotFound;
  std::string out_trade_no;
  std::string transaction_id;
  int64_t amount_minor = 0;
  std::string currency;
  TimePoint paid_at;
  std::string failure;
};

struct ChannelRefundRequest {
  TradeRef trade;
  std::string out_refund_no;  // our refund_id; the channel dedupes on it
  int64_t amount_minor = 0;
  std::string reason;
  TimePoint created_at;
};

enum class RefundState { kNotFound, kProcessing, kSucceeded, kFailed };
std::string_view RefundStateName(RefundState s);

struct ChannelRefund {
  RefundState state = RefundState::kNotFound;
  std::string out_trade_no;
  std::string out_refund_no;
  std::string channel_refund_id;
  int64_t amount_minor = 0;
  std::string error;
};

struct ChannelNotification {
  enum class Kind { kPayment, kRefund };
  Kind kind = Kind::kPayment;
  std::string notify_id;
  ChannelTrade trade;    // kPayment
  ChannelRefund refund;  // kRefund
};

// The HTTP answer the channel expects from a notify endpoint.
struct NotifyAck {
  int http_status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

struct BillRecord {
  enum class Kind { kPayment, kRefund };
  Kind kind = Kind::kPayment;
  std::string out_trade_no;
  std::string transaction_id;
  std::string out_refund_no;
  std::string channel_refund_id;
  int64_t amount_minor = 0;
  std::string currency;
  TimePoint time;
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual PaymentChannel id() const = 0;
  virtual bool SupportsCurrency(std::string_view currency) const { return currency == "CNY"; }

  virtual absl::StatusOr<ChannelCreateResult> CreatePayment(const ChannelCreateRequest& req) = 0;
  virtual absl::StatusOr<ChannelTrade> QueryPayment(const TradeRef& trade) = 0;
  // FAILED_PRECONDITION with message "already paid" when the channel says the trade succeeded.
  virtual absl::Status ClosePayment(const TradeRef& trade) = 0;
  virtual absl::StatusOr<ChannelRefund> Refund(const ChannelRefundRequest& req) = 0;
  virtual absl::StatusOr<ChannelRefund> QueryRefund(const ChannelRefundRequest& req) = 0;
  // bill_date "YYYY-MM-DD" (Asia/Shanghai).
  virtual absl::StatusOr<std::vector<BillRecord>> DownloadBill(const std::string& bill_date) = 0;

  // Verifies the signature first (UNAUTHENTICATED, nothing else looked at), then parses
  // (INVALID_ARGUMENT). headers: lower-case names.
  virtual absl::StatusOr<ChannelNotification> ParseNotification(
      const std::string& body, const std::map<std::string, std::string>& headers) = 0;
  // The answer for the channel: success, or a failure that makes it re-send.
  virtual NotifyAck Ack(bool ok, const std::string& message) const = 0;
};
using ChannelPtr = std::unique_ptr<Channel>;

struct AlipayConfig {
  std::string gateway_url;  // https://openapi.alipay.com/gateway.do
  std::string app_id;
  std::string merchant_private_key_pem;
  std::string alipay_public_key_pem;
  std::string notify_url;
  std::chrono::milliseconds timeout{3000};
};
struct WechatPayConfig {
  std::string base_url;  // https://api.mch.weixin.qq.com
  std::string mchid;
  std::string appid;
  std::string merchant_serial_no;
  std::string merchant_private_key_pem;
  std::string platform_public_key_pem;
  std::string platform_serial_no;
  std::string apiv3_key;  // 32 bytes
  std::string notify_url;
  std::chrono::milliseconds timeout{3000};
  std::chrono::seconds max_clock_skew{300};
};
struct UnionPayConfig {
  std::string base_url;  // https://gateway.95516.com
  std::string mer_id;
  std::string merchant_private_key_pem;
  std::string merchant_cert_pem;
  std::string root_cert_pem;     // trusted root the channel's signing certificate must chain to
  std::string signer_cn_prefix;  // required prefix of the signing certificate's CN
  std::string notify_url;
  std::chrono::milliseconds timeout{3000};
};

absl::StatusOr<ChannelPtr> MakeAlipayChannel(AlipayConfig config, ClockPtr clock);
absl::StatusOr<ChannelPtr> MakeWechatPayChannel(WechatPayConfig config, ClockPtr clock);
absl::StatusOr<ChannelPtr> MakeUnionPayChannel(UnionPayConfig config, ClockPtr clock);

// The bill CSV of the three sandbox bills: a header line, then
// type,out_trade_no,transaction_id,out_refund_no,channel_refund_id,amount_yuan,currency,time_ms
absl::StatusOr<std::vector<BillRecord>> ParseBillCsv(const std::string& csv);

// Local date/time in China Standard Time (UTC+8, no DST), used by the CN channels' wire formats.
std::string ChinaTime(TimePoint t, const char* fmt);              // strftime format
TimePoint ParseChinaTime(const std::string& s, const char* fmt);  // epoch on failure

}  // namespace orderly::payment
