// The inbox consumer against real PostgreSQL and Kafka: exactly-once effects, stale events,
// poison events to the DLQ and back.
#include <atomic>
#include <thread>

#include "event_fixture.hpp"
#include "orderly/events/inbox_consumer.hpp"

namespace orderly::events::testing {
namespace {

using namespace std::chrono_literals;

class InboxFixture : public EventFixture {
 protected:
  void SetUp() override {
    EventFixture::SetUp();
    ORDERLY_ASSERT_OK(pool_->InTransaction([](pqxx::transaction_base& tx) {
      tx.exec("CREATE TABLE applied (event_id uuid, order_id text, seq bigint, note text)");
      return absl::OkStatus();
    }));
    auto p = kafka::Producer::Create({.brokers = brokers_});
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = std::move(*p);
  }

  ConsumerOptions Options() {
    ConsumerOptions co;
    co.name = "consumer-" + orderly::testing::UniqueSuffix();
    co.topics = {topic_};
    co.brokers = brokers_;
    co.base_backoff = 20ms;
    return co;
  }

  static absl::Status Record(pqxx::transaction_base& tx, const v1::EventEnvelope& ev) {
    tx.exec_params("INSERT INTO applied VALUES ($1::uuid, $2, $3, $4)", ev.event_id(),
                   ev.order_id(), ev.sequence(), ev.order_status_changed().parent_order_id());
    return absl::OkStatus();
  }

  void Produce(const std::vector<v1::EventEnvelope>& events) {
    std::vector<kafka::Record> records;
    for (const auto& ev : events) {
      records.push_back({.topic = topic_, .key = ev.order_id(), .value = ev.SerializeAsString()});
    }
    for (const auto& r : producer_->ProduceBatch(records, 10s)) ASSERT_TRUE(r.status.ok());
  }

  static v1::EventEnvelope Numbered(const std::string& order, int64_t seq, const std::string& id) {
    auto ev = Event(order, "seq" + std::to_string(seq));
    ev.set_event_id(id);
    ev.set_sequence(seq);
    ev.set_event_type("orderly.events.v1.OrderStatusChanged");
    return ev;
  }

  std::vector<std::string> AppliedNotes() {
    std::vector<std::string> notes;
    EXPECT_TRUE(pool_
                    ->InTransaction([&](pqxx::transaction_base& tx) {
                      for (const auto& r : tx.exec("SELECT note FROM applied ORDER BY seq, note"))
                        notes.push_back(r[0].c_str());
                      return absl::OkStatus();
                    })
                    .ok());
    return notes;
  }

  static void WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout = 60s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  }

  kafka::ProducerPtr producer_;
};

TEST_F(InboxFixture, DuplicateAppliedOnceAndOlderSequenceIgnored) {
  Produce({Numbered("o1", 1, "0190a000-0000-7000-8000-000000000001"),
           Numbered("o1", 1, "0190a000-0000-7000-8000-000000000001"),  // redelivered duplicate
           Numbered("o1", 3, "0190a000-0000-7000-8000-000000000003"),
           Numbered("o1", 2, "0190a000-0000-7000-8000-000000000002"),  // older than applied
           Numbered("o1", 4, "0190a000-0000-7000-8000-000000000004")});
  InboxConsumer consumer(Options(), *pool_, Record);
  ORDERLY_ASSERT_OK(consumer.Start());
  WaitFor([&] { return consumer.applied() + consumer.skipped() >= 5; });
  consumer.Stop();
  EXPECT_EQ(consumer.applied(), 3);
  EXPECT_EQ(consumer.skipped(), 2);
  EXPECT_EQ(AppliedNotes(), (std::vector<std::string>{"seq1", "seq3", "seq4"}));
}

TEST_F(InboxFixture, PoisonEventGoesToDlqAfterThreeTriesOthersFlowAndReplayApplies) {
  std::atomic<bool> poisoned{true};
  std::atomic<int> poison_attempts{0};
  std::vector<v1::EventEnvelope> events;
  for (int i = 1; i <= 30; ++i) {
    events.push_back(Numbered("o" + std::to_string(i % 3), (i + 2) / 3,
                              "0190a000-0000-7000-8000-0000000001" + std::to_string(10 + i)));
  }
  const std::string poison_id = events[10].event_id();
  Produce(events);

  auto options = Options();
  InboxConsumer consumer(
      options, *pool_,
      [&](pqxx::transaction_base& tx, const v1::EventEnvelope& ev) -> absl::Status {
        if (ev.event_id() == poison_id && poisoned) {
          ++poison_attempts;
          (void)Record(tx, ev);  // its effects must be rolled back
          return absl::InternalError("cannot apply poison");
        }
        return Record(tx, ev);
      });
  ORDERLY_ASSERT_OK(consumer.Start());
  WaitFor([&] { return consumer.applied() >= 29 && consumer.dead_lettered() >= 1; });
  EXPECT_EQ(consumer.applied(), 29);
  EXPECT_EQ(consumer.dead_lettered(), 1);
  EXPECT_EQ(poison_attempts.load(), 3);
  EXPECT_EQ(AppliedNotes().size(), 29u);

  auto dlq = ReadAll(DeadLetterTopic(topic_), 1, 20s);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].Header(kDlqConsumerHeader), options.name);
  EXPECT_EQ(dlq[0].Header(kDlqAttemptsHeader), "3");
  EXPECT_NE(dlq[0].Header(kDlqErrorHeader).find("cannot apply poison"), std::string::npos);
  v1::EventEnvelope dead;
  ASSERT_TRUE(dead.ParseFromString(dlq[0].value));
  EXPECT_EQ(dead.event_id(), poison_id);

  // The bug is fixed; the operator replays the DLQ.
  poisoned = false;
  auto replayed = consumer.ReplayDeadLetters(20s);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(*replayed, 1);
  consumer.Stop();
  EXPECT_EQ(AppliedNotes().size(), 30u);
  // Replaying again applies nothing twice.
  auto again = consumer.ReplayDeadLetters(5s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

}  // namespace
}  // namespace orderly::events::testing
