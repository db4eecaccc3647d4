#include "orderly/pg/json_rows.hpp"

#include <absl/strings/escaping.h>

#include <nlohmann/json.hpp>

#include "orderly/core/clock.hpp"

namespace orderly::pg {

struct JsonRows::Impl {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  nlohmann::ordered_json& Set(std::string_view column) { return rows.back()[std::string(column)]; }
};

std::string TimestampLiteral(int64_t unix_micros) { return Rfc3339FromUnixMicros(unix_micros); }

JsonRows::JsonRows() : impl_(std::make_unique<Impl>()) {}
JsonRows::~JsonRows() = default;
JsonRows::JsonRows(JsonRows&&) noexcept = default;
JsonRows& JsonRows::operator=(JsonRows&&) noexcept = default;

JsonRows& JsonRows::Row() {
  impl_->rows.push_back(nlohmann::ordered_json::object());
  return *this;
}

JsonRows& JsonRows::Int(std::string_view column, int64_t value) {
  impl_->Set(column) = value;
  return *this;
}

JsonRows& JsonRows::Bool(std::string_view column, bool value) {
  impl_->Set(column) = value;
  return *this;
}

JsonRows& JsonRows::Text(std::string_view column, std::string_view value) {
  impl_->Set(column) = std::string(value);
  return *this;
}

// bytea input format in hex: \x0aff.
JsonRows& JsonRows::Bytea(std::string_view column, std::string_view bytes) {
  impl_->Set(column) =
      "\\x" + absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
  return *this;
}

JsonRows& JsonRows::TimeMicros(std::string_view column, int64_t unix_micros) {
  impl_->Set(column) = TimestampLiteral(unix_micros);
  return *this;
}

JsonRows& JsonRows::TextArray(std::string_view column, const std::vector<std::string>& values) {
  impl_->Set(column) = values;
  return *this;
}

JsonRows& JsonRows::Null(std::string_view column) {
  impl_->Set(column) = nullptr;
  return *this;
}

int JsonRows::size() const { return static_cast<int>(impl_->rows.size()); }

std::string JsonRows::Json() const { return impl_->rows.dump(); }

}  // namespace orderly::pg
