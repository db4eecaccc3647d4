#include "orderly/events/outbox.hpp"

#include <google/protobuf/util/time_util.h>

#include "orderly/core/clock.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"

namespace orderly::pg {
const std::vector<Migration>& orderly_events_migrations();
}

namespace orderly::events {
namespace {

std::string& SourceName() {
  static std::string name = "orderly";
  return name;
}

// One round trip: take the aggregate's next sequence (its row lock serializes the aggregate's
// writers until commit) and insert the event with it. The stored payload has no sequence; the
// relay stamps it into the record (see relay.cpp), so the envelope is serialized before the
// sequence is known. The NOTIFY that wakes the relay comes from a statement trigger.
constexpr char kAppendSql[] = R"sql(
WITH seq AS (
  INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last_sequence) VALUES ($4, $5, 1)
  ON CONFLICT (aggregate_type, aggregate_id)
  DO UPDATE SET last_sequence = outbox_sequences.last_sequence + 1
  RETURNING last_sequence)
INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
                    event_type, payload, traceparent, occurred_at)
SELECT $1::uuid, $2, $3, $4, $5, seq.last_sequence, $6, $7, $8,
       to_timestamp($9::double precision / 1000.0)
FROM seq
RETURNING sequence)sql";
constexpr char kAppendStatement[] = "orderly_outbox_append";

}  // namespace

std::string DeadLetterTopic(const std::string& topic) { return topic + ".dlq"; }

const std::vector<pg::Migration>& SchemaMigrations() { return pg::orderly_events_migrations(); }

std::vector<pg::Migration> WithEventSchema(const std::vector<pg::Migration>& service_migrations) {
  std::vector<pg::Migration> all = service_migrations;
  for (const auto& m : SchemaMigrations()) all.push_back(m);
  return all;
}

void SetSource(std::string service_name) { SourceName() = std::move(service_name); }
const std::string& Source() { return SourceName(); }

std::string EventTypeOf(const v1::EventEnvelope& envelope) {
  const auto* desc = envelope.GetDescriptor();
  const auto* refl = envelope.GetReflection();
  for (int i = 0; i < desc->oneof_decl_count(); ++i) {
    const auto* field = refl->GetOneofFieldDescriptor(envelope, desc->oneof_decl(i));
    if (field != nullptr && field->message_type() != nullptr) {
      return field->message_type()->full_name();
    }
  }
  return "";
}

absl::StatusOr<int64_t> Append(pqxx::transaction_base& tx, v1::EventEnvelope& envelope,
                               const AppendOptions& options) {
  if (envelope.aggregate_type().empty() || envelope.aggregate_id().empty()) {
    return absl::InvalidArgumentError("outbox event needs aggregate_type and aggregate_id");
  }
  if (options.topic.empty()) return absl::InvalidArgumentError("outbox event needs a topic");
  std::string type = EventTypeOf(envelope);
  if (type.empty()) return absl::InvalidArgumentError("outbox event has no payload");
  try {
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
    std::string key = options.partition_key;
    if (key.empty()) key = envelope.order_id();
    if (key.empty()) key = envelope.aggregate_id();

    std::string payload;
    if (!envelope.SerializeToString(&payload)) {
      return absl::InternalError("outbox: cannot serialize event envelope");
    }
    const int64_t occurred_ms =
        google::protobuf::util::TimeUtil::TimestampToMilliseconds(envelope.occurred_at());
    // Prepared once per connection (libpqxx registers lazily; the same name and text again is
    // a no-op), so the hot path skips parsing and planning.
    tx.conn().prepare(kAppendStatement, kAppendSql);
    auto rows = tx.exec_prepared(kAppendStatement, envelope.event_id(), options.topic, key,
                                 envelope.aggregate_type(), envelope.aggregate_id(), type,
                                 pqxx::binarystring(payload), envelope.traceparent(), occurred_ms);
    const int64_t sequence = rows.at(0)[0].as<int64_t>();
    envelope.set_sequence(sequence);
    return sequence;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

}  // namespace orderly::events
