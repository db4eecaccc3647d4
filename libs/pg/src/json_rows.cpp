#include "orderly/pg/json_rows.hpp"

#include <absl/strings/escaping.h>
#include <absl/strings/str_cat.h>

#include "orderly/core/clock.hpp"
#include "orderly/core/logging.hpp"

namespace orderly::pg {

std::string TimestampLiteral(int64_t unix_micros) { return Rfc3339FromUnixMicros(unix_micros); }

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
