#pragma once
// Small helpers for passing values to libpqxx 6.4 as text parameters.
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/core/proto_convert.hpp"

namespace orderly::order_core {

// "\x0a1b..." (bytea hex input format).
std::string ByteaHex(std::string_view bytes);
// RFC 3339 with microseconds, for timestamptz parameters.
std::string PgTime(TimePoint t);
int64_t ToUnixMicros(TimePoint t);
TimePoint FromUnixMicros(int64_t us);
// Splits a string joined with chr(31) (array_to_string(arr, chr(31))).
std::vector<std::string> SplitUnitSeparated(const std::string& s);

}  // namespace orderly::order_core
