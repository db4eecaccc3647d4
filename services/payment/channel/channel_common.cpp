#include <ctime>
#include <sstream>

#include "channel/channel.hpp"
#include "channel/wire_util.hpp"

namespace orderly::payment {

std::string ChannelName(PaymentChannel c) {
  switch (c) {
    case v1::PAYMENT_CHANNEL_ALIPAY: return "alipay";
    case v1::PAYMENT_CHANNEL_WECHAT_PAY: return "wechatpay";
    case v1::PAYMENT_CHANNEL_UNIONPAY: return "unionpay";
    default: return "unspecified";
  }
}

PaymentChannel ChannelFromName(std::string_view n) {
  if (n == "alipay") return v1::PAYMENT_CHANNEL_ALIPAY;
  if (n == "wechatpay" || n == "wechat") return v1::PAYMENT_CHANNEL_WECHAT_PAY;
  if (n == "unionpay") return v1::PAYMENT_CHANNEL_UNIONPAY;
  return v1::PAYMENT_CHANNEL_UNSPECIFIED;
}

std::string_view TradeStateName(TradeState s) {
  switch (s) {
    case TradeState::kNotFound: return "NOT_FOUND";
    case TradeState::kPending: return "PENDING";
    case TradeState::kSucceeded: return "SUCCEEDED";
    case TradeState::kFailed: return "FAILED";
    case TradeState::kClosed: return "CLOSED";
  }
  return "?";
}

std::string_view RefundStateName(RefundState s) {
  switch (s) {
    case RefundState::kNotFound: return "NOT_FOUND";
    case RefundState::kProcessing: return "PROCESSING";
    case RefundState::kSucceeded: return "SUCCEEDED";
    case RefundState::kFailed: return "FAILED";
  }
  return "?";
}

std::string ChinaTime(TimePoint t, const char* fmt) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t) + 8 * 3600;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), fmt, &tm);
  return buf;
}

TimePoint ParseChinaTime(const std::string& s, const char* fmt) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), fmt, &tm);
  if (end == nullptr) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm) - 8 * 3600);
}

absl::StatusOr<std::vector<BillRecord>> ParseBillCsv(const std::string& csv) {
  std::vector<BillRecord> out;
  std::istringstream in(csv);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header) {
      header = false;
      if (line.rfind("type,", 0) != 0) return absl::DataLossError("bill: missing header");
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    if (f.size() != 8) return absl::DataLossError("bill: a line does not have 8 fields");
    BillRecord r;
    if (f[0] == "payment")
      r.kind = BillRecord::Kind::kPayment;
    else if (f[0] == "refund")
      r.kind = BillRecord::Kind::kRefund;
    else
      return absl::DataLossError("bill: unknown record type");
    r.out_trade_no = f[1];
    r.transaction_id = f[2];
    r.out_refund_no = f[3];
    r.channel_refund_id = f[4];
    auto amount = wire::ParseYuan(f[5]);
    if (!amount.ok()) return absl::DataLossError("bill: bad amount");
    r.amount_minor = *amount;
    r.currency = f[6];
    auto ms = wire::ParseInt64(f[7]);
    if (!ms.ok()) return absl::DataLossError("bill: bad time");
    r.time = FromUnixMillis(*ms);
    out.push_back(std::move(r));
  }
  if (header) return absl::DataLossError("bill: empty");
  return out;
}

}  // namespace orderly::payment
