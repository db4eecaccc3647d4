#include "channel_wire.hpp"

#include <ctime>

#include "orderly/core/absl_compat.hpp"

namespace orderly::sandbox {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
      continue;
    }
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? HexDigit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("form: bad %-escape");
    out += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

bool Utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80                ? 1
                 : c >= 0xC2 && c < 0xE0 ? 2
                 : c >= 0xE0 && c < 0xF0 ? 3
                 : c >= 0xF0 && c < 0xF5 ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

absl::StatusOr<Fields> ParseForm(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("form: empty body");
  Fields out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view pair = body.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return absl::InvalidArgumentError("form: field without '='");
    auto name = PercentDecode(pair.substr(0, eq));
    auto value = PercentDecode(pair.substr(eq + 1));
    if (!name.ok()) return name.status();
    if (!value.ok()) return value.status();
    if (!Utf8(*name) || !Utf8(*value)) return absl::InvalidArgumentError("form: not UTF-8");
    if (!out.try_emplace(std::move(*name), std::move(*value)).second) {
      return absl::InvalidArgumentError("form: repeated field");
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string FormEncode(const Fields& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return out;
}

std::string YuanText(int64_t fen) {
  const bool negative = fen < 0;
  const uint64_t abs = negative ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  const uint64_t cents = abs % 100;
  return (negative ? "-" : "") + std::to_string(abs / 100) + (cents < 10 ? ".0" : ".") +
         std::to_string(cents);
}

absl::StatusOr<int64_t> Digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return absl::InvalidArgumentError("not an integer");
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("not an integer");
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::StatusOr<int64_t> YuanToFen(std::string_view yuan) {
  const size_t dot = yuan.find('.');
  auto whole = Digits(yuan.substr(0, dot));
  if (!whole.ok() || *whole > 90000000000000000LL)
    return absl::InvalidArgumentError("not a yuan amount");
  if (dot == std::string_view::npos) return *whole * 100;
  const std::string_view frac = yuan.substr(dot + 1);
  auto f = Digits(frac);
  if (!f.ok() || frac.size() > 2)
    return absl::InvalidArgumentError("not a yuan amount with at most 2 decimals");
  return *whole * 100 + (frac.size() == 1 ? *f * 10 : *f);
}

std::string ShanghaiTime(TimePoint t, const char* fmt) {
  const std::time_t shanghai = std::chrono::system_clock::to_time_t(t) + 8 * 3600;
  std::tm tm{};
  gmtime_r(&shanghai, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof(buf), fmt, &tm);
  return std::string(buf, n);
}

std::string BillCsv(const std::vector<BillLine>& lines) {
  std::string out =
      "type,out_trade_no,transaction_id,out_refund_no,channel_refund_id,amount,currency,time_ms\n";
  for (const auto& l : lines) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(l.time.time_since_epoch()).count();
    out += std::string(l.refund ? "refund" : "payment") + "," + l.out_trade_no + "," +
           l.transaction_id + "," + l.out_refund_no + "," + l.channel_refund_id + "," +
           YuanText(l.amount_fen) + "," + l.currency + "," + std::to_string(ms) + "\n";
  }
  return out;
}

}  // namespace orderly::sandbox
