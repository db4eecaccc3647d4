#pragma once
// Shared set-up for the events integration tests: a fresh database with the event schema, a fresh
// topic, and helpers to write events and read them back from the real broker.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "orderly/events/outbox.hpp"
#include "orderly/events/relay.hpp"
#include "orderly/kafka/kafka.hpp"
#include "orderly/pg/migrations.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::events::testing {

class EventFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = orderly::testing::CreateTempDatabase("events");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::make_unique<orderly::testing::TempDatabase>(std::move(*db));
    auto pool = pg::Pool::Create({.dsn = db_->dsn(), .size = 8});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    ORDERLY_ASSERT_OK(pg::ApplyMigrations(*pool_, "events-test", WithEventSchema({})));
    auto brokers = orderly::testing::KafkaBrokersFromEnv();
    ASSERT_TRUE(brokers.ok()) << brokers.status();
    brokers_ = *brokers;
    auto topic = orderly::testing::UniqueTopic("test.outbox", 6);
    ASSERT_TRUE(topic.ok()) << topic.status();
    topic_ = *topic;
    ORDERLY_ASSERT_OK(kafka::EnsureTopics(brokers_, {{DeadLetterTopic(topic_), 1}}));
  }

  RelayOptions Relay(const std::string& service = "events-test") {
    RelayOptions o;
    o.service = service;
    o.dsn = db_->dsn();
    o.producer.brokers = brokers_;
    o.poll_interval = std::chrono::milliseconds(100);
    o.standby_retry = std::chrono::milliseconds(100);
    o.base_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(1000);
    return o;
  }

  static v1::EventEnvelope Event(const std::string& order_id, const std::string& note = "") {
    v1::EventEnvelope ev;
    ev.set_aggregate_type("order");
    ev.set_aggregate_id(order_id);
    ev.set_order_id(order_id);
    auto* changed = ev.mutable_order_status_changed();
    changed->set_order_id(order_id);
    changed->set_parent_order_id(note.empty() ? "test" : note);
    return ev;
  }

  // Appends one event in its own transaction; returns its sequence.
  int64_t Write(const std::string& order_id, const std::string& note = "") {
    int64_t seq = 0;
    auto s = pool_->InTransaction([&](pqxx::transaction_base& tx) -> absl::Status {
      auto ev = Event(order_id, note);
      auto r = Append(tx, ev, {.topic = topic_});
      if (!r.ok()) return r.status();
      seq = *r;
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return seq;
  }

  int64_t Count(const std::string& where) {
    int64_t n = -1;
    auto s = pool_->InTransaction([&](pqxx::transaction_base& tx) {
      n = tx.exec1("SELECT count(*) FROM outbox WHERE " + where)[0].as<int64_t>();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return n;
  }

  // Waits until no row is waiting to be published.
  bool WaitDrained(std::chrono::seconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (Count("published_at IS NULL") == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Reads the topic from the beginning until `expected` distinct events (by ce_id) arrived or the
  // timeout passed. Duplicates (republished after an outage) are returned too, but do not count.
  std::vector<kafka::ConsumedRecord> ReadAll(const std::string& topic, size_t expected,
                                             std::chrono::seconds timeout) {
    kafka::ConsumerOptions co;
    co.brokers = brokers_;
    co.group_id = "reader-" + orderly::testing::UniqueSuffix();
    co.topics = {topic};
    auto c = kafka::Consumer::Create(co);
    EXPECT_TRUE(c.ok()) << c.status();
    std::vector<kafka::ConsumedRecord> out;
    if (!c.ok()) return out;
    auto until = std::chrono::steady_clock::now() + timeout;
    std::set<std::string> ids;
    while (ids.size() < expected && std::chrono::steady_clock::now() < until) {
      auto batch = (*c)->Poll(1000, std::chrono::milliseconds(500));
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) break;
      for (auto& r : *batch) {
        ids.insert(r.Header("ce_id"));
        out.push_back(std::move(r));
      }
    }
    (*c)->Close();
    return out;
  }

  // Per key, in partition order: a record never skips ahead of the next expected sequence
  // (duplicates of earlier ones are allowed; consumers drop them). Returns the distinct events.
  static size_t CheckOrderPerKey(const std::vector<kafka::ConsumedRecord>& records,
                                 std::map<std::string, int64_t>* max_seq_out = nullptr) {
    std::map<std::string, int64_t> max_seq;
    size_t distinct = 0;
    for (const auto& r : records) {
      v1::EventEnvelope ev;
      EXPECT_TRUE(ev.ParseFromString(r.value));
      int64_t& m = max_seq[r.key];
      EXPECT_LE(ev.sequence(), m + 1)
          << "key " << r.key << " jumped from " << m << " to " << ev.sequence();
      if (ev.sequence() == m + 1) {
        ++distinct;
        m = ev.sequence();
      }
    }
    if (max_seq_out) *max_seq_out = max_seq;
    return distinct;
  }

  std::unique_ptr<orderly::testing::TempDatabase> db_;
  pg::PoolPtr pool_;
  std::string brokers_;
  std::string topic_;
};

}  // namespace orderly::events::testing
