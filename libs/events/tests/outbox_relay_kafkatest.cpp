// The outbox relay against real PostgreSQL and Kafka: ordering, no gaps, crash and failover.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "event_fixture.hpp"
#include "orderly/events/inbox_consumer.hpp"

namespace orderly::events::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(EventFixture, PublishesEveryEventInOrderPerAggregateWithCloudEventHeaders) {
  constexpr int kAggregates = 20, kPerAggregate = 25;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerAggregate; ++i) {
        for (int a = w; a < kAggregates; a += 4) Write("order-" + std::to_string(a));
      }
    });
  }
  OutboxRelay relay(Relay());
  relay.Start();
  for (auto& t : writers) t.join();
  ASSERT_TRUE(WaitDrained(30s));
  relay.Stop();

  auto records = ReadAll(topic_, kAggregates * kPerAggregate, 30s);
  ASSERT_EQ(records.size(), size_t{kAggregates * kPerAggregate});
  std::map<std::string, int64_t> max_seq;
  EXPECT_EQ(CheckOrderPerKey(records, &max_seq), size_t{kAggregates * kPerAggregate});
  for (const auto& [key, m] : max_seq) EXPECT_EQ(m, kPerAggregate) << key;

  std::set<std::string> ids;
  for (const auto& r : records) {
    EXPECT_EQ(r.Header("ce_specversion"), "1.0");
    EXPECT_EQ(r.Header("ce_type"), "orderly.events.v1.OrderStatusChanged");
    EXPECT_EQ(r.Header("content-type"), "application/protobuf");
    EXPECT_FALSE(r.Header("ce_time").empty());
    EXPECT_EQ(r.Header("ce_subject"), "order/" + r.key);
    ids.insert(r.Header("ce_id"));
  }
  EXPECT_EQ(ids.size(), records.size());
  EXPECT_EQ(relay.stats().published.load(), kAggregates * kPerAggregate);
}

// AppendMany: several events (several aggregates, one of them twice) in one round trip, from
// concurrent writers that touch the same aggregates in different orders, mixed with Append.
// Sequences stay gapless and in order per aggregate and the relay publishes them in order.
TEST_F(EventFixture, AppendManyKeepsPerAggregateSequencesAcrossConcurrentWriters) {
  constexpr int kWriters = 4, kTxns = 40, kAggregates = 6;
  std::atomic<int> written{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int t = 0; t < kTxns; ++t) {
        std::vector<std::string> aggs;
        for (int a = 0; a < kAggregates; ++a) aggs.push_back("order-m" + std::to_string(a));
        std::shuffle(aggs.begin(), aggs.end(), rng);
        aggs.resize(3);
        aggs.push_back(aggs[0]);  // one aggregate twice in the same call
        auto s = pool_->InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
          std::vector<v1::EventEnvelope> events;
          for (const auto& a : aggs) events.push_back(Event(a, "many"));
          auto seqs = AppendMany(tx, events, {.topic = topic_});
          if (!seqs.ok()) return seqs.status();
          EXPECT_EQ(seqs->size(), aggs.size());
          EXPECT_EQ((*seqs)[3], (*seqs)[0] + 1);  // the repeated aggregate: consecutive
          for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), (*seqs)[i]);
          // Append after it in the same transaction continues the sequence. (Before it, it
          // would lock one aggregate out of AppendMany's order: a deadlock, then a retry.)
          auto single = Event(aggs[1], "single");
          auto one = Append(tx, single, {.topic = topic_});
          if (!one.ok()) return one.status();
          EXPECT_EQ(*one, (*seqs)[1] + 1);
          return absl::OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s;
        if (s.ok()) written += 5;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(written.load(), kWriters * kTxns * 5);
  // Per aggregate: sequences 1..n without gaps, and id order is sequence order.
  ORDERLY_ASSERT_OK(pool_->InTransaction([](pqxx::transaction_base& tx) {
    auto r = tx.exec1(
        "SELECT count(*) FILTER (WHERE sequence <> rn), count(*) FILTER (WHERE id_rank <> rn) "
        "FROM (SELECT sequence, row_number() OVER w AS rn, "
        "             rank() OVER (PARTITION BY aggregate_id ORDER BY id) AS id_rank "
        "      FROM outbox WINDOW w AS (PARTITION BY aggregate_id ORDER BY sequence)) s");
    EXPECT_EQ(r[0].as<int64_t>(), 0);
    EXPECT_EQ(r[1].as<int64_t>(), 0);
    return absl::OkStatus();
  }));
  std::vector<v1::EventEnvelope> none;
  auto empty = pool_->InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
    auto r = AppendMany(tx, none, {.topic = topic_});
    if (!r.ok()) return r.status();
    EXPECT_TRUE(r->empty());
    return absl::OkStatus();
  });
  ORDERLY_EXPECT_OK(empty);

  OutboxRelay relay(Relay());
  relay.Start();
  ASSERT_TRUE(WaitDrained(30s));
  relay.Stop();
  auto records = ReadAll(topic_, written.load(), 30s);
  std::map<std::string, int64_t> max_seq;
  EXPECT_EQ(CheckOrderPerKey(records, &max_seq), static_cast<size_t>(written.load()));
  int64_t total = 0;
  for (const auto& [key, m] : max_seq) total += m;
  EXPECT_EQ(total, written.load());
}

// A transaction that takes the lower outbox id but commits after a later one must still be
// published (the commit-order race that `id > last_seen` polling loses).
TEST_F(EventFixture, LateCommitWithLowerIdIsStillPublished) {
  pqxx::connection slow_conn(db_->dsn());
  pqxx::work slow(slow_conn);
  auto slow_ev = Event("order-slow");
  ASSERT_TRUE(Append(slow, slow_ev, {.topic = topic_}).ok());  // lower id, not committed yet
  Write("order-fast");                                         // higher id, committed

  OutboxRelay relay(Relay());
  auto first = relay.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1);  // only the committed one is visible
  slow.commit();
  auto second = relay.RunOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 1);

  auto records = ReadAll(topic_, 2, 20s);
  std::set<std::string> keys;
  for (const auto& r : records) keys.insert(r.key);
  EXPECT_EQ(keys, (std::set<std::string>{"order-slow", "order-fast"}));
}

TEST_F(EventFixture, ConcurrentWritersWithInterleavedCommitsLeaveNoGaps) {
  constexpr int kWriters = 8, kPerWriter = 60;
  OutboxRelay relay(Relay());
  relay.Start();
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w);
      pqxx::connection conn(db_->dsn());
      for (int i = 0; i < kPerWriter; ++i) {
        pqxx::work tx(conn);
        auto ev = Event("order-w" + std::to_string(w) + "-" + std::to_string(i % 5));
        ASSERT_TRUE(Append(tx, ev, {.topic = topic_}).ok());
        // Hold the transaction open for a while so later ids commit first.
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
        tx.commit();
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_TRUE(WaitDrained(30s));
  relay.Stop();
  auto records = ReadAll(topic_, kWriters * kPerWriter, 30s);
  EXPECT_EQ(CheckOrderPerKey(records), size_t{kWriters * kPerWriter});
  EXPECT_EQ(Count("published_at IS NOT NULL"), kWriters * kPerWriter);
}

// The relay process dies with SIGKILL right after Kafka acknowledged a batch and before it was
// marked published. Nothing is lost; the re-published duplicates are absorbed by an inbox.
TEST_F(EventFixture, RelayKilledMidBatchLosesNothingAndInboxAbsorbsDuplicates) {
  constexpr int kEvents = 600;
  for (int i = 0; i < kEvents; ++i) Write("order-" + std::to_string(i % 30));

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child relay: small batches, a pause between "acknowledged" and "marked".
    auto o = Relay();
    o.batch_size = 50;
    o.after_produce_for_test = [] { std::this_thread::sleep_for(150ms); };
    OutboxRelay relay(o);
    relay.Start();
    std::this_thread::sleep_for(60s);
    _exit(0);
  }
  // Kill it once some batches are marked, while it sits between produce and mark.
  auto until = std::chrono::steady_clock::now() + 30s;
  while (Count("published_at IS NOT NULL") < 100 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(60ms);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const int64_t marked_before = Count("published_at IS NOT NULL");
  EXPECT_GE(marked_before, 100);
  EXPECT_LT(marked_before, kEvents);

  OutboxRelay relay(Relay());
  relay.Start();
  ASSERT_TRUE(WaitDrained(30s));
  relay.Stop();

  auto records = ReadAll(topic_, kEvents, 30s);
  std::set<std::string> ids;
  for (const auto& r : records) ids.insert(r.Header("ce_id"));
  EXPECT_EQ(ids.size(), size_t{kEvents});      // no loss
  EXPECT_GE(records.size(), size_t{kEvents});  // duplicates possible
  EXPECT_EQ(CheckOrderPerKey(records), size_t{kEvents});

  // An inbox consumer applies each event exactly once despite the duplicates.
  ORDERLY_ASSERT_OK(pool_->InTransaction([](pqxx::transaction_base& tx) {
    tx.exec("CREATE TABLE applied (event_id uuid, order_id text, seq bigint)");
    return absl::OkStatus();
  }));
  ConsumerOptions co;
  co.name = "dedupe-" + orderly::testing::UniqueSuffix();
  co.topics = {topic_};
  co.brokers = brokers_;
  InboxConsumer consumer(co, *pool_, [](pqxx::transaction_base& tx, const v1::EventEnvelope& ev) {
    tx.exec_params("INSERT INTO applied VALUES ($1::uuid, $2, $3)", ev.event_id(), ev.order_id(),
                   ev.sequence());
    return absl::OkStatus();
  });
  ORDERLY_ASSERT_OK(consumer.Start());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (consumer.applied() + consumer.skipped() < static_cast<int64_t>(records.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  consumer.Stop();
  EXPECT_EQ(consumer.applied(), kEvents);
  EXPECT_EQ(consumer.skipped(), static_cast<int64_t>(records.size()) - kEvents);
  int64_t distinct = -1, rows = -1;
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    auto r = tx.exec1("SELECT count(DISTINCT event_id), count(*) FROM applied");
    distinct = r[0].as<int64_t>();
    rows = r[1].as<int64_t>();
    return absl::OkStatus();
  }));
  EXPECT_EQ(distinct, kEvents);
  EXPECT_EQ(rows, kEvents);
}

// Two relay instances: one is active, the other stands by and takes over when the first stops;
// per-key order holds across the handover.
TEST_F(EventFixture, TwoRelaysNeverReorderAKey) {
  OutboxRelay a(Relay()), b(Relay());
  a.Start();
  std::this_thread::sleep_for(300ms);
  b.Start();
  // The first half is written while the first relay publishes; it stops mid-stream, and the
  // second half can only be published by the standby once it has taken over.
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) Write("order-" + std::to_string(i % 10));
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_NE(a.active(), b.active());  // exactly one active
  OutboxRelay& first = a.active() ? a : b;
  OutboxRelay& second = a.active() ? b : a;
  first.Stop();  // handover mid-stream
  writer.join();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!second.active() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(second.active());
  for (int i = 400; i < 800; ++i) Write("order-" + std::to_string(i % 10));
  ASSERT_TRUE(WaitDrained(30s));
  EXPECT_GE(second.stats().published.load(), 400);
  second.Stop();
  auto records = ReadAll(topic_, 800, 30s);
  std::map<std::string, int64_t> max_seq;
  EXPECT_EQ(CheckOrderPerKey(records, &max_seq), size_t{800});
  for (const auto& [key, m] : max_seq) EXPECT_EQ(m, 80) << key;
}

}  // namespace
}  // namespace orderly::events::testing

namespace orderly::events::testing {
namespace {

// The claim walks outbox_unpublished's index over the rows the relay deleted; the relay vacuums
// that small queue itself while it publishes, instead of waiting for autovacuum's next round.
TEST_F(EventFixture, RelayVacuumsTheQueueItPublishesFrom) {
  for (int i = 0; i < 300; ++i) Write("order-" + std::to_string(i % 10));
  {
    OutboxRelay relay(Relay());
    relay.Start();
    ASSERT_TRUE(WaitDrained(30s));
    relay.Stop();
  }
  EXPECT_EQ(Count("id IN (SELECT id FROM outbox_unpublished)"), 0);
  // Statistics arrive when the relay's session ends, shortly after Stop().
  int64_t vacuums = 0;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (vacuums == 0 && std::chrono::steady_clock::now() < until) {
    ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      vacuums = tx.exec1(
                      "SELECT vacuum_count FROM pg_stat_user_tables "
                      "WHERE relname = 'outbox_unpublished'")[0]
                    .as<int64_t>();
      return absl::OkStatus();
    }));
    if (vacuums == 0) std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(vacuums, 1);
}

// NOTIFY serializes writers' commits, so writers notify only while a relay waits for one
// (migrations 9005, 9104): not before any relay runs and not after it released; but while it is
// idle they do, and the relay publishes a lone event on that wake-up, long before its poll.
TEST_F(EventFixture, WritersNotifyOnlyWhileARelayWaits) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto listener, pool_->Dedicated());
  pqxx::nontransaction(*listener).exec("LISTEN orderly_outbox");
  auto notified = [&] {
    bool got = false;
    // Drain everything that arrived; a notification is delivered right after its commit.
    while (listener->await_notification(0, 200000) > 0) got = true;
    return got;
  };
  auto state = [&] {
    std::string v;
    ORDERLY_EXPECT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
      auto r = tx.exec("SELECT busy FROM outbox_relay_state");
      v = r.empty() ? "absent" : (r[0][0].as<bool>() ? "busy" : "waiting");
      return absl::OkStatus();
    }));
    return v;
  };
  Write("before-relay");
  EXPECT_FALSE(notified()) << "no relay has run: nobody to wake";
  {
    auto o = Relay();
    o.poll_interval = 10s;  // a wake-up within the test's deadline can only be the NOTIFY
    OutboxRelay relay(o);
    relay.Start();
    ASSERT_TRUE(WaitDrained(30s));
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (state() != "waiting" && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(state(), "waiting");
    (void)notified();
    std::this_thread::sleep_for(100ms);  // past the relay's 20 ms second look: it waits now
    const auto t0 = std::chrono::steady_clock::now();
    Write("while-idle");
    EXPECT_TRUE(notified());
    ASSERT_TRUE(WaitDrained(3s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
    relay.Stop();
  }
  EXPECT_EQ(state(), "absent");
  (void)notified();
  Write("after-release");
  EXPECT_FALSE(notified()) << "the relay released: nobody to wake";
}

}  // namespace
}  // namespace orderly::events::testing
