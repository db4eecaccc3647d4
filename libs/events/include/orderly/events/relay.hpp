#pragma once
// OutboxRelay: publishes committed outbox rows to Kafka.
//
// Several instances may run (one per service replica) for availability; exactly one is active at
// a time. The active one holds a session-level advisory lock on a dedicated connection and does
// all its work on that same connection, so if its session dies it loses the lock and can no
// longer mark rows published; a standby takes over within `standby_retry`.
//
// Each batch: claim the rows queued in outbox_unpublished in id order, skipping aggregates that
// have an earlier row parked or backing off; produce them with the idempotent producer
// (acks=all, gapless) keyed by partition_key; wait for every delivery report; mark the
// acknowledged rows published. Rows after the first failure of an aggregate are not marked, so
// an aggregate's events are never marked out of order. Failed rows back off exponentially;
// after max_attempts they are parked with their error (alert metric orderly_outbox_parked) and
// block the rest of *their* aggregate only.
// Batches overlap by one: while a full batch N is produced, batch N+1 is claimed (leaving out
// N's rows; after a small N, once N is acknowledged); N+1 is handed to the producer only after N's
// delivery reports, without the rows of an aggregate that failed in N, and N is marked while N+1 is
// produced. The relay wakes on LISTEN/NOTIFY and polls as a fallback. While it finds rows it keeps
// claiming and flags itself busy (table outbox_relay_state) so writers skip the NOTIFY, which
// serializes their commits; when a claim comes back empty it clears the flag and waits. Writers
// notify only while a relay waits: with no relay running (or after one released) they don't.
#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "orderly/core/clock.hpp"
#include "orderly/kafka/kafka.hpp"
#include "orderly/pg/pool.hpp"

namespace orderly::events {

struct RelayOptions {
  std::string service;  // lock and metric label
  std::string dsn;      // the service database
  kafka::ProducerOptions producer;
  int batch_size = 1000;
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds produce_timeout{15000};
  int max_attempts = 12;  // then parked
  std::chrono::milliseconds base_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::hours retention{24 * 7};  // published rows kept this long
  std::chrono::milliseconds purge_interval{60000};
  int purge_batch = 5000;
  std::chrono::milliseconds standby_retry{1000};
  // Tests only: runs after a batch was produced and acknowledged, before it is marked published
  // (to kill a relay exactly there).
  std::function<void()> after_produce_for_test;
};

struct RelayStats {
  std::atomic<int64_t> published{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> parked{0};
  std::atomic<int64_t> batches{0};
  std::atomic<bool> active{false};
};

class OutboxRelay {
 public:
  explicit OutboxRelay(RelayOptions options);
  ~OutboxRelay();  // Stop()
  void Start();
  // Finishes the current batch, releases leadership, joins.
  void Stop();
  // One claim-produce-mark cycle on the caller's thread (tests); returns rows published.
  // Requires leadership: acquires it if free, else returns 0.
  absl::StatusOr<int> RunOnce();
  const RelayStats& stats() const { return stats_; }
  bool active() const { return stats_.active.load(); }

 private:
  struct Impl;
  RelayOptions options_;
  RelayStats stats_;
  std::unique_ptr<Impl> impl_;
};
using OutboxRelayPtr = std::unique_ptr<OutboxRelay>;

// Re-queues parked rows (all, or of one aggregate) for another round of attempts; returns count.
absl::StatusOr<int64_t> UnparkOutbox(pg::Pool& pool, const std::string& aggregate_id = "");

}  // namespace orderly::events

namespace orderly::events {
// Registers scrape-time gauges read from the service database: orderly_outbox_backlog,
// orderly_outbox_oldest_age_seconds and orderly_outbox_parked, labelled {service}.
void RegisterOutboxMetrics(pg::Pool& pool, const std::string& service);
}  // namespace orderly::events
