#include "orderly/core/proto_convert.hpp"

#include <google/protobuf/util/time_util.h>

#include <string>

namespace orderly {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProtoTimestamp(TimePoint t) {
  return TimeUtil::MicrosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

TimePoint FromProtoTimestamp(const google::protobuf::Timestamp& ts) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(ts))));
}

common::v1::Money ToProtoMoney(int64_t amount_minor, std::string_view currency) {
  common::v1::Money m;
  SetProtoMoney(&m, amount_minor, currency);
  return m;
}

void SetProtoMoney(common::v1::Money* out, int64_t amount_minor, std::string_view currency) {
  out->set_amount_minor(amount_minor);
  out->set_currency_code(std::string(currency));
}

}  // namespace orderly
