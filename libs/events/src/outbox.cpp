#include "orderly/events/outbox.hpp"

#include <string_view>

#include <google/protobuf/util/time_util.h>

#include "orderly/core/clock.hpp"
#include "orderly/core/ids.hpp"
#include "orderly/core/logging.hpp"
#include "orderly/events/outbox_rows.hpp"

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

// AppendMany's single round trip. The events come as parallel arrays ($1..$9, in caller order).
// Each aggregate's sequence row is taken once, advanced by its number of events and locked in
// (aggregate_type, aggregate_id) order, so concurrent multi-aggregate writers cannot deadlock on
// each other. Rows are inserted in caller order after every lock is held (the sort above the
// join), so per aggregate, sequence order is id order as with Append. One INSERT statement: the
// statement trigger sends one NOTIFY.
constexpr char kAppendManySql[] = R"sql(
WITH ev AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::bytea[], $8::text[], $9::bigint[])
    WITH ORDINALITY AS e(event_id, topic, partition_key, aggregate_type, aggregate_id,
                         event_type, payload, traceparent, occurred_ms, ord)),
agg AS (
  SELECT aggregate_type, aggregate_id, count(*) AS n FROM ev GROUP BY aggregate_type, aggregate_id),
seq AS (
  INSERT INTO outbox_sequences AS s (aggregate_type, aggregate_id, last_sequence)
  SELECT aggregate_type, aggregate_id, n FROM agg ORDER BY aggregate_type, aggregate_id
  ON CONFLICT (aggregate_type, aggregate_id)
  DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
  RETURNING s.aggregate_type, s.aggregate_id, s.last_sequence),
ins AS (
  INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
                      event_type, payload, traceparent, occurred_at)
  SELECT e.event_id, e.topic, e.partition_key, e.aggregate_type, e.aggregate_id,
         seq.last_sequence - agg.n
           + row_number() OVER (PARTITION BY e.aggregate_type, e.aggregate_id ORDER BY e.ord),
         e.event_type, e.payload, e.traceparent,
         to_timestamp(e.occurred_ms::double precision / 1000.0)
  FROM ev e
  JOIN agg USING (aggregate_type, aggregate_id)
  JOIN seq USING (aggregate_type, aggregate_id)
  ORDER BY e.ord
  RETURNING event_id, sequence)
SELECT ins.sequence FROM ins JOIN ev USING (event_id) ORDER BY ev.ord)sql";
constexpr char kAppendManyStatement[] = "orderly_outbox_append_many";

// PostgreSQL array literals, for the parallel arrays of AppendMany.
class ArrayLiteral {
 public:
  void AddText(std::string_view v) {
    Open();
    text_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
  }
  // bytea in hex form; the element's backslash is escaped for the array parser.
  void AddBytes(std::string_view v) {
    static constexpr char kHex[] = "0123456789abcdef";
    Open();
    text_ += "\"\\\\x";
    for (unsigned char c : v) {
      text_ += kHex[c >> 4];
      text_ += kHex[c & 0xf];
    }
    text_ += '"';
  }
  void AddInt(int64_t v) {
    Open();
    text_ += std::to_string(v);
  }
  std::string Finish() {
    if (text_.empty()) text_ = "{";
    text_ += '}';
    return std::move(text_);
  }

 private:
  void Open() { text_ += text_.empty() ? '{' : ','; }
  std::string text_;
};

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
  try {
    auto row = PrepareOutboxRow(envelope, options);
    if (!row.ok()) return row.status();
    // Prepared once per connection (libpqxx registers lazily; the same name and text again is
    // a no-op), so the hot path skips parsing and planning.
    tx.conn().prepare(kAppendStatement, kAppendSql);
    auto rows = tx.exec_prepared(kAppendStatement, row->event_id, row->topic, row->partition_key,
                                 row->aggregate_type, row->aggregate_id, row->event_type,
                                 pqxx::binarystring(row->payload), row->traceparent,
                                 row->occurred_at_ms);
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
    ArrayLiteral ids, topics, keys, agg_types, agg_ids, types, payloads, traceparents, occurred;
    for (auto& envelope : envelopes) {
      auto row = PrepareOutboxRow(envelope, options);
      if (!row.ok()) return row.status();
      ids.AddText(row->event_id);
      topics.AddText(row->topic);
      keys.AddText(row->partition_key);
      agg_types.AddText(row->aggregate_type);
      agg_ids.AddText(row->aggregate_id);
      types.AddText(row->event_type);
      payloads.AddBytes(row->payload);
      traceparents.AddText(row->traceparent);
      occurred.AddInt(row->occurred_at_ms);
    }
    tx.conn().prepare(kAppendManyStatement, kAppendManySql);
    auto rows = tx.exec_prepared(kAppendManyStatement, ids.Finish(), topics.Finish(),
                                 keys.Finish(), agg_types.Finish(), agg_ids.Finish(),
                                 types.Finish(), payloads.Finish(), traceparents.Finish(),
                                 occurred.Finish());
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
