#pragma once
// The outbox from inside a stored function: a service that writes a whole change in one
// stored-function call (one round trip) passes its events as the JSON array built here, and the
// function calls orderly_outbox_append_json(events) (migration 9100) in the same transaction.
// Each envelope is completed exactly as Append completes it (event id, type, source, occurred_at,
// traceparent, partition key), and the SQL function gives the same per-aggregate sequences,
// lock order and NOTIFY as Append.
#include <absl/status/statusor.h>

#include <span>
#include <string>

#include "orderly/events/outbox.hpp"

namespace orderly::events {

// One event ready for the outbox table (the envelope completed, its payload serialized).
struct OutboxRow {
  std::string event_id;
  std::string topic;
  std::string partition_key;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string event_type;
  std::string payload;
  std::string traceparent;
  int64_t occurred_at_ms = 0;
};

// Completes `envelope` in place as Append does (the sequence is cleared: the database assigns
// it) and returns its row. INVALID_ARGUMENT when it lacks an aggregate, a topic or a payload.
absl::StatusOr<OutboxRow> PrepareOutboxRow(v1::EventEnvelope& envelope,
                                           const AppendOptions& options);

// The JSON array orderly_outbox_append_json takes; `options` apply to every envelope.
absl::StatusOr<std::string> OutboxRowsJson(std::span<v1::EventEnvelope> envelopes,
                                           const AppendOptions& options);

}  // namespace orderly::events
