#pragma once
// The transactional outbox. A service appends the event describing a state change in the same
// PostgreSQL transaction as the change itself; the OutboxRelay later publishes it to Kafka.
//
// Ordering: Append takes a row lock on the aggregate's row in outbox_sequences and increments it,
// so two transactions touching one aggregate serialize there; the later one gets the next
// sequence *and* a larger outbox id, and it cannot become visible before the earlier one commits.
// Per-aggregate sequence order is therefore also visibility order and id order.
#include <absl/status/statusor.h>

#include <cstdint>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <vector>

#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/pg/migrations.hpp"

namespace orderly::events {

// Topic names (partitions keyed by order id; see docs/events.md).
inline constexpr char kOrderTopic[] = "orderly.order.v1";
inline constexpr char kPaymentTopic[] = "orderly.payment.v1";
inline constexpr char kInventoryTopic[] = "orderly.inventory.v1";
inline constexpr char kFulfillmentTopic[] = "orderly.fulfillment.v1";
inline constexpr char kAfterSaleTopic[] = "orderly.aftersale.v1";
std::string DeadLetterTopic(const std::string& topic);  // "<topic>.dlq"

// The outbox/inbox tables, as migrations to append to a service's own list (versions 9001+, so
// they never collide with a service's 0001..0999).
const std::vector<pg::Migration>& SchemaMigrations();
// A service's own migrations followed by the event tables.
std::vector<pg::Migration> WithEventSchema(const std::vector<pg::Migration>& service_migrations);

struct AppendOptions {
  std::string topic;          // one of the k*Topic constants
  std::string partition_key;  // defaults to envelope.order_id(), then aggregate_id
};

// Completes the envelope (event_id UUIDv7 if empty, event_type from the payload, sequence,
// occurred_at, source, traceparent from the current log/trace context if empty) and inserts it in
// tx. Returns the assigned per-aggregate sequence. The caller must have set aggregate_type,
// aggregate_id and the payload. An event larger than MaxEventBytes() is refused here, before
// anything is written: INVALID_ARGUMENT EVENT_TOO_LARGE (metadata event_type, size_bytes,
// limit_bytes), so the transaction fails instead of the publish.
absl::StatusOr<int64_t> Append(pqxx::transaction_base& tx, v1::EventEnvelope& envelope,
                               const AppendOptions& options);

// Appends several events of one transaction in ONE round trip (a change that emits several
// events, e.g. a parent order and its children). Each envelope is completed as by Append; events
// of one aggregate get consecutive sequences in the order given, and ids follow that order too.
// The aggregates' sequence rows are locked in a fixed (aggregate_type, aggregate_id) order, so
// two AppendMany calls never deadlock each other (an Append of another aggregate earlier in the
// same transaction takes its lock out of that order; a deadlock is then ABORTED and retried).
// options apply to every event (an empty partition_key still defaults per event). Returns the
// sequences in the order of `envelopes`; nothing is written when any envelope is invalid. Identical
// in effect to calling Append for each envelope in turn.
absl::StatusOr<std::vector<int64_t>> AppendMany(pqxx::transaction_base& tx,
                                                std::span<v1::EventEnvelope> envelopes,
                                                const AppendOptions& options);

// The largest event Append accepts: the serialized envelope plus its key and headers. The
// producer's message.max.bytes is 1,000,000 by default (the broker's 1,048,588); a record over it
// is refused at publish time and parked, and every later event of its aggregate waits behind it.
// The limit leaves ~100 KB of headroom for the record batch framing. Configurable per process
// (--max_event_bytes); never above the producer's message.max.bytes.
inline constexpr size_t kDefaultMaxEventBytes = 900'000;
void SetMaxEventBytes(size_t bytes);
size_t MaxEventBytes();

// Name of this process for `source` (set once at start by the service, e.g. "inventory").
void SetSource(std::string service_name);
const std::string& Source();

// The full protobuf name of the payload set in the envelope's oneof, or "" when none.
std::string EventTypeOf(const v1::EventEnvelope& envelope);

}  // namespace orderly::events
