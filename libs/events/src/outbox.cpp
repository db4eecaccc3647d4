#include "orderly/events/outbox.hpp"

#include <google/protobuf/util/time_util.h>

#include <atomic>
#include <string_view>

#include "orderly/core/clock.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/events/outbox_rows.hpp"
#include "orderly/pg/query.hpp"

namespace orderly::pg {
const std::vector<Migration>& orderly_events_migrations();
}

namespace orderly::events {
namespace {

std::string& SourceName() {
  static std::string name = "orderly";
  return name;
}

// One round trip each: the SQL functions of migration 9100, which services' stored functions call
// too, so the sequence logic exists once. The stored payload has no sequence; the relay stamps it
// into the record (see relay.cpp), so the envelope is serialized before the sequence is known.
// The NOTIFY that wakes the relay comes from a statement trigger.
const pg::Query kAppend{
    "events.outbox_append",
    "SELECT orderly_outbox_append($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9::bigint)"};
const pg::Query kAppendMany{"events.outbox_append_many",
                            "SELECT orderly_outbox_append_json($1::jsonb)"};

}  // namespace

std::string DeadLetterTopic(const std::string& topic) { return topic + ".dlq"; }

const std::vector<pg::Migration>& SchemaMigrations() { return pg::orderly_events_migrations(); }

std::vector<pg::Migration> WithEventSchema(const std::vector<pg::Migration>& service_migrations) {
  std::vector<pg::Migration> all = service_migrations;
  for (const auto& m : SchemaMigrations()) all.push_back(m);
  return all;
}

namespace {
std::atomic<size_t>& MaxEventBytesSetting() {
  static std::atomic<size_t> limit{kDefaultMaxEventBytes};
  return limit;
}
}  // namespace

void SetMaxEventBytes(size_t bytes) { MaxEventBytesSetting().store(bytes); }
size_t MaxEventBytes() { return MaxEventBytesSetting().load(std::memory_order_relaxed); }

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
  try {
    auto row = PrepareOutboxRow(envelope, options);
    if (!row.ok()) return row.status();
    auto rows = pg::Exec(tx, kAppend, row->event_id, row->topic, row->partition_key,
                         row->aggregate_type, row->aggregate_id, row->event_type,
                         pqxx::binarystring(row->payload), row->traceparent, row->occurred_at_ms);
    const int64_t sequence = rows.at(0)[0].as<int64_t>();
    envelope.set_sequence(sequence);
    return sequence;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::StatusOr<std::vector<int64_t>> AppendMany(pqxx::transaction_base& tx,
                                                std::span<v1::EventEnvelope> envelopes,
                                                const AppendOptions& options) {
  std::vector<int64_t> sequences;
  if (envelopes.empty()) return sequences;
  try {
    auto json = OutboxRowsJson(envelopes, options);
    if (!json.ok()) return json.status();
    auto rows = pg::Exec(tx, kAppendMany, *json);
    if (rows.size() != envelopes.size()) {
      return absl::InternalError("outbox: AppendMany inserted " + std::to_string(rows.size()) +
                                 " of " + std::to_string(envelopes.size()) + " events");
    }
    sequences.reserve(rows.size());
    for (const auto& row : rows) sequences.push_back(row[0].as<int64_t>());
    for (size_t i = 0; i < envelopes.size(); ++i) envelopes[i].set_sequence(sequences[i]);
    return sequences;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

}  // namespace orderly::events
