#include "pg_util.hpp"

#include <absl/strings/escaping.h>

#include "orderly/pg/json_rows.hpp"

namespace orderly::order_core {

std::string ByteaHex(std::string_view bytes) {
  return "\\x" + absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

int64_t ToUnixMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMicros(int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

std::string PgTime(TimePoint t) { return pg::TimestampLiteral(ToUnixMicros(t)); }

std::vector<std::string> SplitUnitSeparated(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find('\x1f', start);
    if (pos == std::string::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

}  // namespace orderly::order_core
