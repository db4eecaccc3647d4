#include "orderly/pg/json_rows.hpp"

#include <ctime>

#include <absl/strings/escaping.h>
#include <absl/strings/str_cat.h>

#include "orderly/core/logging.hpp"

namespace orderly::pg {

std::string TimestampLiteral(int64_t unix_micros) {
  int64_t secs = unix_micros / 1000000;
  int64_t frac = unix_micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

JsonRows& JsonRows::Row() {
  if (rows_ > 0) out_ += "},";
  out_ += '{';
  ++rows_;
  first_column_ = true;
  return *this;
}

JsonRows& JsonRows::Key(std::string_view column) {
  if (!first_column_) out_ += ',';
  first_column_ = false;
  out_ += '"';
  out_.append(column);
  out_ += "\":";
  return *this;
}

JsonRows& JsonRows::Int(std::string_view column, int64_t value) {
  Key(column);
  absl::StrAppend(&out_, value);
  return *this;
}

JsonRows& JsonRows::Bool(std::string_view column, bool value) {
  Key(column);
  out_ += value ? "true" : "false";
  return *this;
}

JsonRows& JsonRows::Text(std::string_view column, std::string_view value) {
  Key(column);
  out_ += '"';
  out_ += log::JsonEscape(value);
  out_ += '"';
  return *this;
}

JsonRows& JsonRows::Bytea(std::string_view column, std::string_view bytes) {
  Key(column);
  out_ += "\"\\\\x";
  out_ += absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
  out_ += '"';
  return *this;
}

JsonRows& JsonRows::TimeMicros(std::string_view column, int64_t unix_micros) {
  Key(column);
  out_ += '"';
  out_ += TimestampLiteral(unix_micros);
  out_ += '"';
  return *this;
}

JsonRows& JsonRows::TextArray(std::string_view column, const std::vector<std::string>& values) {
  Key(column);
  out_ += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out_ += ',';
    out_ += '"';
    out_ += log::JsonEscape(values[i]);
    out_ += '"';
  }
  out_ += ']';
  return *this;
}

JsonRows& JsonRows::Null(std::string_view column) {
  Key(column);
  out_ += "null";
  return *this;
}

}  // namespace orderly::pg
