// Outbox -> relay -> Kafka benchmark against the real PostgreSQL and broker.
//   1. Throughput: writers commit events (10 per transaction, like a burst of order changes) as
//      fast as they can while the relay publishes; events/s = events acknowledged by Kafka / s.
//      Each transaction is BEGIN, one AppendMany, COMMIT. The fourth argument `stmt` writes it as
//      one statement without BEGIN/COMMIT instead (AppendMany on an autocommit connection, one
//      round trip), the way inventory_reserve writes a change and its events.
//   2. Latency: a paced load of 1,000 events/s, one event per transaction; commit-to-ack is
//      published_at (marked right after Kafka's ack) - created_at (written in the transaction).
//   3. Loss: the topic is read back and every written event id must be there.
// Prints a report and, last, one JSON line.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orderly/events/outbox.hpp"
#include "orderly/events/relay.hpp"
#include "orderly/kafka/kafka.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"

using namespace std::chrono_literals;
using orderly::events::v1::EventEnvelope;
using Clock = std::chrono::steady_clock;

namespace {

void Die(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "outbox bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

EventEnvelope Event(int64_t order) {
  EventEnvelope ev;
  const std::string id = std::to_string(1'000'000 + order);
  ev.set_aggregate_type("order");
  ev.set_aggregate_id(id);
  ev.set_order_id(id);
  ev.mutable_order_status_changed()->set_order_id(id);
  return ev;
}

int64_t Scalar(orderly::pg::Pool& pool, const std::string& sql) {
  int64_t v = 0;
  Die(pool.InTransaction([&](pqxx::transaction_base& tx) {
    v = tx.exec1(sql)[0].as<int64_t>();
    return absl::OkStatus();
  }),
      "query");
  return v;
}

// Events still to publish. The queue, not `outbox WHERE published_at IS NULL`: no index covers
// published_at, and a sequential scan of the outbox every 20 ms competes with the relay.
int64_t Backlog(orderly::pg::Pool& pool) {
  return Scalar(pool, "SELECT count(*) FROM outbox_unpublished");
}

}  // namespace

int main(int argc, char** argv) {
  const int throughput_seconds = argc > 1 ? std::atoi(argv[1]) : 10;
  const int latency_seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  auto db = orderly::testing::CreateTempDatabase("bench_outbox");
  Die(db.status(), "database");
  auto pool = orderly::pg::Pool::Create({.dsn = db->dsn(), .size = 12});
  Die(pool.status(), "pool");
  Die(orderly::pg::ApplyMigrations(**pool, "bench", orderly::events::WithEventSchema({})),
      "migrations");
  auto brokers = orderly::testing::KafkaBrokersFromEnv();
  Die(brokers.status(), "brokers");
  auto topic = orderly::testing::UniqueTopic("bench.outbox", 6);
  Die(topic.status(), "topic");

  orderly::events::RelayOptions ro;
  ro.service = "bench";
  ro.dsn = db->dsn();
  ro.producer.brokers = *brokers;
  ro.poll_interval = 200ms;
  orderly::events::OutboxRelay relay(ro);
  relay.Start();

  const bool explicit_txn = !(argc > 4 && std::string(argv[4]) == "stmt");
  std::atomic<int64_t> written{0};
  // A transaction with several events writes them with one AppendMany, as a service does when
  // one change emits several events; a single event goes through Append in a transaction.
  auto events_of = [&](int events_per_txn, int64_t first_order) {
    std::vector<EventEnvelope> events;
    events.reserve(events_per_txn);
    for (int i = 0; i < events_per_txn; ++i) events.push_back(Event(first_order + i));
    return events;
  };
  auto write_txn = [&](int events_per_txn, int64_t first_order) {
    if (events_per_txn > 1 && !explicit_txn) {
      // One statement, its own transaction: one round trip instead of BEGIN, AppendMany, COMMIT.
      Die((*pool)->WithConnection([&](pqxx::connection& conn) -> absl::Status {
        pqxx::nontransaction tx(conn);
        auto events = events_of(events_per_txn, first_order);
        return orderly::events::AppendMany(tx, events, {.topic = *topic}).status();
      }),
          "write");
      written += events_per_txn;
      return;
    }
    Die((*pool)->InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
      if (events_per_txn == 1) {
        auto ev = Event(first_order);
        return orderly::events::Append(tx, ev, {.topic = *topic}).status();
      }
      auto events = events_of(events_per_txn, first_order);
      return orderly::events::AppendMany(tx, events, {.topic = *topic}).status();
    }),
        "write");
    written += events_per_txn;
  };

  // Warm-up: producer connection, idempotence PID, prepared plans.
  for (int i = 0; i < 20; ++i) write_txn(1, i);
  while (Backlog(**pool) > 0) {
    std::this_thread::sleep_for(50ms);
  }

  // 1. Throughput.
  const int64_t acked_before = relay.stats().published.load();
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  const int kWriters = argc > 3 ? std::atoi(argv[3]) : 8;
  constexpr int kPerTxn = 10;
  const auto t0 = Clock::now();
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      int64_t n = 0;
      while (!stop) {
        write_txn(kPerTxn, (w * 1'000'000) + (n % 5000));  // 5,000 aggregates per writer
        n += kPerTxn;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(throughput_seconds));
  stop = true;
  for (auto& t : writers) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t acked_in_window = relay.stats().published.load() - acked_before;
  const int64_t written_tp = written.load() - 20;
  while (Backlog(**pool) > 0) {
    std::this_thread::sleep_for(50ms);
  }
  const double drain_elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double events_per_s = acked_in_window / elapsed;
  const double write_per_s = written_tp / elapsed;

  // 1b. Relay capacity alone: a backlog written while the relay is stopped, then drained.
  relay.Stop();
  constexpr int kBacklog = 50'000;
  const auto f0 = Clock::now();
  {
    std::vector<std::thread> fill;
    for (int w = 0; w < 4; ++w) {
      fill.emplace_back([&, w] {
        for (int i = 0; i < kBacklog / 4 / 50; ++i) write_txn(50, 90'000'000 + w * 1'000'000 + i);
      });
    }
    for (auto& t : fill) t.join();
  }
  const double fill_per_s = kBacklog / std::chrono::duration<double>(Clock::now() - f0).count();
  const auto d0 = Clock::now();
  orderly::events::OutboxRelay drainer(ro);
  drainer.Start();
  while (Backlog(**pool) > 0) {
    std::this_thread::sleep_for(20ms);
  }
  const double drain_s = std::chrono::duration<double>(Clock::now() - d0).count();
  const double drain_per_s = kBacklog / drain_s;
  drainer.Stop();
  relay.Start();

  // 2. Latency at a steady 1,000 events/s (4 writers x 250 transactions/s, one event each).
  Die((*pool)->InTransaction([](pqxx::transaction_base& tx) {
    tx.exec("CREATE TABLE bench_mark AS SELECT coalesce(max(id), 0) AS id FROM outbox");
    return absl::OkStatus();
  }),
      "mark");
  std::vector<std::thread> paced;
  for (int w = 0; w < 4; ++w) {
    paced.emplace_back([&, w] {
      auto next = Clock::now();
      const auto end = next + std::chrono::seconds(latency_seconds);
      int64_t n = 0;
      while (next < end) {
        write_txn(1, 50'000'000 + w * 1'000'000 + (n++ % 1000));
        next += 4ms;
        std::this_thread::sleep_until(next);
      }
    });
  }
  for (auto& t : paced) t.join();
  while (Backlog(**pool) > 0) {
    std::this_thread::sleep_for(50ms);
  }
  double p50 = 0, p99 = 0, max_ms = 0;
  int64_t latency_events = 0;
  Die((*pool)->InTransaction([&](pqxx::transaction_base& tx) {
    auto r = tx.exec1(
        "SELECT count(*), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM ("
        "  SELECT extract(epoch FROM published_at - created_at) * 1000 AS ms FROM outbox "
        "  WHERE id > (SELECT id FROM bench_mark)) s");
    latency_events = r[0].as<int64_t>();
    p50 = r[1].as<double>();
    p99 = r[2].as<double>();
    max_ms = r[3].as<double>();
    return absl::OkStatus();
  }),
      "latency");
  relay.Stop();

  // 3. Loss: read the topic back.
  const int64_t total = written.load();
  std::set<std::string> seen;
  {
    auto c = orderly::kafka::Consumer::Create(
        {.brokers = *brokers,
         .group_id = "bench-reader-" + orderly::testing::UniqueSuffix(),
         .topics = {*topic}});
    Die(c.status(), "consumer");
    const auto deadline = Clock::now() + 120s;
    while (static_cast<int64_t>(seen.size()) < total && Clock::now() < deadline) {
      auto batch = (*c)->Poll(5000, 500ms);
      Die(batch.status(), "poll");
      for (const auto& r : *batch) seen.insert(r.Header("ce_id"));
    }
    (*c)->Close();
  }
  const int64_t lost = total - static_cast<int64_t>(seen.size());

  std::printf("outbox -> relay -> Kafka (PostgreSQL 15 + Kafka 4.1, all on this machine)\n");
  std::printf("  throughput: %d writers x %d events/transaction (%s) for %.1f s\n", kWriters,
              kPerTxn, explicit_txn ? "BEGIN, AppendMany, COMMIT" : "one statement", elapsed);
  std::printf("    written  %10.0f events/s\n", write_per_s);
  std::printf("    acked    %10.0f events/s (relay + broker, measured in the same window)\n",
              events_per_s);
  std::printf("    all drained after %.1f s\n", drain_elapsed);
  std::printf(
      "  write capacity alone (relay stopped, 4 writers x 50 events/transaction): %.0f "
      "events/s\n",
      fill_per_s);
  std::printf("  relay capacity: a %d-event backlog drained in %.2f s = %.0f events/s\n", kBacklog,
              drain_s, drain_per_s);
  std::printf("  latency at 1,000 events/s, one event per transaction, %d s (%lld events)\n",
              latency_seconds, static_cast<long long>(latency_events));
  std::printf("    commit-to-ack p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", p50, p99, max_ms);
  std::printf("  read back: %zu distinct of %lld written, lost %lld\n", seen.size(),
              static_cast<long long>(total), static_cast<long long>(lost));
  std::printf(
      "{\"events_per_s\": %.0f, \"written_per_s\": %.0f, \"relay_drain_per_s\": %.0f, "
      "\"p50_ms_at_1000\": %.1f, "
      "\"p99_ms_at_1000\": %.1f, \"lost\": %lld}\n",
      events_per_s, write_per_s, drain_per_s, p50, p99, static_cast<long long>(lost));
  return lost == 0 ? 0 : 1;
}
