#include "orderly/events/outbox_rows.hpp"

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "orderly/core/clock.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/core/status.hpp"
#include "orderly/pg/json_rows.hpp"

namespace orderly::events {

absl::StatusOr<OutboxRow> PrepareOutboxRow(v1::EventEnvelope& envelope,
                                           const AppendOptions& options) {
  if (envelope.aggregate_type().empty() || envelope.aggregate_id().empty()) {
    return absl::InvalidArgumentError("outbox event needs aggregate_type and aggregate_id");
  }
  if (options.topic.empty()) return absl::InvalidArgumentError("outbox event needs a topic");
  std::string type = EventTypeOf(envelope);
  if (type.empty()) return absl::InvalidArgumentError("outbox event has no payload");
  if (envelope.event_id().empty()) envelope.set_event_id(NewUuidV7());
  envelope.set_event_type(type);
  envelope.clear_sequence();
  if (envelope.source().empty()) envelope.set_source(Source());
  if (!envelope.has_occurred_at()) {
    *envelope.mutable_occurred_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        ToUnixMillis(std::chrono::system_clock::now()));
  }
  if (envelope.traceparent().empty()) {
    const auto& ctx = log::Current();
    if (ctx.trace_id.size() == 32) {
      envelope.set_traceparent("00-" + ctx.trace_id + "-" + NewUuidV7().substr(24, 12) +
                               NewUuidV7().substr(19, 4) + "-01");
    }
  }
  OutboxRow row;
  row.partition_key = options.partition_key;
  if (row.partition_key.empty()) row.partition_key = envelope.order_id();
  if (row.partition_key.empty()) row.partition_key = envelope.aggregate_id();
  if (!envelope.SerializeToString(&row.payload)) {
    return absl::InternalError("outbox: cannot serialize event envelope");
  }
  // What Kafka will be asked to take: value, key and the headers the relay adds.
  constexpr size_t kHeaderOverhead = 256;  // CloudEvents header names, time, sequence, framing
  const size_t size = row.payload.size() + row.partition_key.size() + envelope.event_id().size() +
                      type.size() + envelope.traceparent().size() +
                      envelope.aggregate_type().size() + envelope.aggregate_id().size() +
                      kHeaderOverhead;
  if (size > MaxEventBytes()) {
    return ErrorWithInfo(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("event ", type, " of ", envelope.aggregate_type(), " is ", size,
                     " bytes, over the limit of ", MaxEventBytes(), " bytes: nothing was written"),
        "EVENT_TOO_LARGE",
        {{"event_type", type},
         {"size_bytes", std::to_string(size)},
         {"limit_bytes", std::to_string(MaxEventBytes())}});
  }
  row.event_id = envelope.event_id();
  row.topic = options.topic;
  row.aggregate_type = envelope.aggregate_type();
  row.aggregate_id = envelope.aggregate_id();
  row.event_type = std::move(type);
  row.traceparent = envelope.traceparent();
  row.occurred_at_ms =
      google::protobuf::util::TimeUtil::TimestampToMilliseconds(envelope.occurred_at());
  return row;
}

absl::StatusOr<std::string> OutboxRowsJson(std::span<v1::EventEnvelope> envelopes,
                                           const AppendOptions& options) {
  pg::JsonRows rows;
  for (auto& envelope : envelopes) {
    auto row = PrepareOutboxRow(envelope, options);
    if (!row.ok()) return row.status();
    rows.Row()
        .Text("event_id", row->event_id)
        .Text("topic", row->topic)
        .Text("partition_key", row->partition_key)
        .Text("aggregate_type", row->aggregate_type)
        .Text("aggregate_id", row->aggregate_id)
        .Text("event_type", row->event_type)
        .Bytea("payload", row->payload)
        .Text("traceparent", row->traceparent)
        .TimeMicros("occurred_at", row->occurred_at_ms * 1000);
  }
  return rows.Json();
}

}  // namespace orderly::events
