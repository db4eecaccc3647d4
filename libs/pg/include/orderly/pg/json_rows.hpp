#pragma once
// Rows for a stored function, as one JSON array of objects keyed by column name, so a whole
// multi-table write goes to PostgreSQL in ONE round trip and the function reads it with
// jsonb_populate_recordset(NULL::table, $1). Values are rendered in the column types' input
// formats: bytea as "\\x..." hex, timestamptz as RFC 3339 UTC with microseconds, text[] as a JSON
// array (PostgreSQL converts it).
//
//   pg::JsonRows rows;
//   rows.Row().Int("order_id", 42).Text("buyer_id", "b1").Bytea("snapshot", bytes);
//   tx.exec_params("SELECT f($1::jsonb)", rows.Json());
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orderly::pg {

class JsonRows {
 public:
  // Starts a new row (object); the setters below add columns to it.
  JsonRows& Row();
  JsonRows& Int(std::string_view column, int64_t value);
  JsonRows& Bool(std::string_view column, bool value);
  // Text must be valid UTF-8 (validated at the API boundary); it is JSON-escaped here.
  JsonRows& Text(std::string_view column, std::string_view value);
  JsonRows& Bytea(std::string_view column, std::string_view bytes);
  // Microseconds since the Unix epoch.
  JsonRows& TimeMicros(std::string_view column, int64_t unix_micros);
  JsonRows& TextArray(std::string_view column, const std::vector<std::string>& values);
  JsonRows& Null(std::string_view column);

  bool empty() const { return rows_ == 0; }
  int size() const { return rows_; }
  // The JSON array ("[]" when no row was added).
  std::string Json() const { return out_ + (rows_ > 0 ? "}]" : "]"); }

 private:
  JsonRows& Key(std::string_view column);
  std::string out_ = "[";
  int rows_ = 0;
  bool first_column_ = true;
};

// RFC 3339 UTC with microseconds ("2026-11-22T11:00:00.123456Z"), a timestamptz literal.
std::string TimestampLiteral(int64_t unix_micros);

}  // namespace orderly::pg
