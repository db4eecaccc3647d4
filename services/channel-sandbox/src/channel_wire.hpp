#pragma once
// What the three channels put on the wire besides signatures, channel side: form bodies, yuan
// amounts, China Standard Time stamps and the sandbox's bill CSV. JSON goes through nlohmann-json.
#include <absl/status/statusor.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orderly/core/clock.hpp"

namespace orderly::sandbox {

using Fields = std::map<std::string, std::string>;

// application/x-www-form-urlencoded, strict: a bad %-escape, a field without '=', a repeated field
// or a value that is not UTF-8 is INVALID_ARGUMENT.
absl::StatusOr<Fields> ParseForm(std::string_view body);
std::string FormEncode(const Fields& fields);
std::string PercentEncode(std::string_view s);  // RFC 3986 unreserved kept

std::string YuanText(int64_t fen);                         // 1234 -> "12.34"
absl::StatusOr<int64_t> YuanToFen(std::string_view yuan);  // at most two decimals
absl::StatusOr<int64_t> Digits(std::string_view s);        // a non-negative integer

// Local time in Asia/Shanghai (UTC+8, no daylight saving), strftime format.
std::string ShanghaiTime(TimePoint t, const char* fmt);

// One line of the sandbox's simplified bill (the same CSV for the three channels):
// type,out_trade_no,transaction_id,out_refund_no,channel_refund_id,amount,currency,time_ms
struct BillLine {
  bool refund = false;
  std::string out_trade_no, transaction_id, out_refund_no, channel_refund_id, currency;
  int64_t amount_fen = 0;
  TimePoint time;
};
std::string BillCsv(const std::vector<BillLine>& lines);

}  // namespace orderly::sandbox
