#pragma once
// InboxConsumer: runs a handler for every event of some topics, exactly once in effect.
//
// For each record: in one PostgreSQL transaction, insert (consumer, event_id) into `inbox`
// (a conflict = a redelivered event: skip), check the aggregate's last applied sequence in
// `inbox_sequences` (an older or equal sequence = stale: skip, not applied), run the handler with
// the transaction, record the new sequence, commit. Kafka offsets are committed only after the
// database commit, so a crash in between redelivers and the inbox absorbs the duplicate.
// A failing handler is retried with backoff; after max_attempts the record goes to
// `<topic>.dlq` with error headers, orderly_consumer_dead_letters_total counts it, an error line
// names the event, and the consumer moves on. ReplayDeadLetters() feeds the DLQ back to the
// handler (an operator action, so the stale-sequence check is skipped; the inbox still dedupes).
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/kafka/kafka.hpp"
#include "orderly/pg/pool.hpp"

namespace orderly::events {

// Returns OK to commit the effects, or an error to roll back and retry. A handler must do all of
// its effects through tx (or be idempotent by itself).
using EventHandler =
    std::function<absl::Status(pqxx::transaction_base& tx, const v1::EventEnvelope& event)>;

struct ConsumerOptions {
  std::string name;  // consumer name: inbox key, metric label, DLQ header; also the group id
  std::vector<std::string> topics;
  // Only events whose event_type is listed ("orderly.events.v1.PaymentSucceeded") reach the
  // handler; the others are settled without a database transaction (no inbox row), so a consumer
  // that needs one event of a busy topic pays nothing for the rest. Empty = every event.
  std::set<std::string> event_types;
  std::string brokers;
  int max_attempts = 3;
  std::chrono::milliseconds base_backoff{100};
  size_t batch_size = 200;
  std::chrono::milliseconds poll_timeout{200};
};

class InboxConsumer {
 public:
  InboxConsumer(ConsumerOptions options, pg::Pool& pool, EventHandler handler);
  ~InboxConsumer();
  absl::Status Start();  // subscribes and starts the poll thread
  void Stop();
  // Reads `<topic>.dlq` for every subscribed topic (records of this consumer only) and applies
  // them; returns how many were applied (duplicates already applied count as skipped).
  absl::StatusOr<int> ReplayDeadLetters(std::chrono::milliseconds timeout);

  const std::string& name() const;
  int64_t applied() const;
  int64_t skipped() const;  // duplicates + stale
  int64_t dead_lettered() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
using InboxConsumerPtr = std::unique_ptr<InboxConsumer>;

// Header names on dead-lettered records.
inline constexpr char kDlqErrorHeader[] = "x-orderly-error";
inline constexpr char kDlqConsumerHeader[] = "x-orderly-consumer";
inline constexpr char kDlqAttemptsHeader[] = "x-orderly-attempts";
inline constexpr char kDlqOriginHeader[] = "x-orderly-origin";  // "topic/partition/offset"

}  // namespace orderly::events
