#pragma once
// Conversions between Orderly's value types and their protobuf forms, shared by every service.
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string_view>

#include "orderly/common/v1/money.pb.h"
#include "orderly/core/clock.hpp"

namespace orderly {

// Microsecond precision both ways (PostgreSQL's timestamptz precision).
google::protobuf::Timestamp ToProtoTimestamp(TimePoint t);
TimePoint FromProtoTimestamp(const google::protobuf::Timestamp& ts);

common::v1::Money ToProtoMoney(int64_t amount_minor, std::string_view currency);
void SetProtoMoney(common::v1::Money* out, int64_t amount_minor, std::string_view currency);

}  // namespace orderly
