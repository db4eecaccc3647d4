// Failure handling of the relay with the unpublished-queue schema (migration 9101), against real
// PostgreSQL and Kafka: a row Kafka refuses for good is parked after max_attempts and holds back
// only its own aggregate's later events (and the alert gauge shows it), and the purge deletes
// published rows older than the retention, never a row still to publish.
#include <functional>
#include <set>
#include <thread>

#include "event_fixture.hpp"
#include "orderly/core/metrics.hpp"

namespace orderly::events::testing {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

TEST_F(EventFixture, PermanentFailureParksTheRowAndHoldsBackOnlyItsAggregate) {
  // Larger than the producer's message.max.bytes (1 MB): refused for good, every time. The
  // outbox refuses such an event at append time (OutboxRows test); a broker whose limit shrank
  // after the append still makes one, which this writes by raising the append limit.
  SetMaxEventBytes(2'000'000);
  Write("order-poison", std::string(1'500'000, 'x'));
  SetMaxEventBytes(kDefaultMaxEventBytes);
  Write("order-poison", "after the poison");
  for (int i = 0; i < 3; ++i) Write("order-ok");

  auto o = Relay();
  o.max_attempts = 3;
  OutboxRelay relay(o);
  relay.Start();
  ASSERT_TRUE(WaitFor([&] { return Count("parked_at IS NOT NULL") == 1; }, 30s));
  ASSERT_TRUE(WaitFor(
      [&] { return Count("aggregate_id = 'order-ok' AND published_at IS NOT NULL") == 3; }, 30s));
  // The next event of the parked aggregate stays behind it, and keeps staying there.
  std::this_thread::sleep_for(500ms);
  relay.Stop();
  EXPECT_EQ(Count("aggregate_id = 'order-poison' AND published_at IS NULL"), 2);
  EXPECT_EQ(Count("aggregate_id = 'order-poison' AND sequence = 1 AND parked_at IS NOT NULL "
                  "AND attempts = 3 AND last_error <> ''"),
            1);
  EXPECT_EQ(Count("aggregate_id = 'order-poison' AND sequence = 2 AND parked_at IS NULL"), 1);
  EXPECT_EQ(relay.stats().parked.load(), 1);
  // Only the held row is still queued: the parked one and the published ones left the queue.
  EXPECT_EQ(Count("id IN (SELECT id FROM outbox_unpublished) AND sequence = 2"), 1);
  EXPECT_EQ(Count("id IN (SELECT id FROM outbox_unpublished)"), 1);

  RegisterOutboxMetrics(*pool_, "parking-test");
  const std::string text = metrics::Registry::Default().RenderText();
  EXPECT_NE(text.find("orderly_outbox_parked{service=\"parking-test\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("orderly_outbox_backlog{service=\"parking-test\"} 1"), std::string::npos)
      << text;

  // The other aggregate's events all arrived; neither the poison nor its successor did: a
  // consumer must never see sequence 2 before sequence 1 (it would then drop 1 as stale).
  // Unparking queues the row again for a fresh round of attempts.
  auto unparked = UnparkOutbox(*pool_, "order-poison");
  ASSERT_TRUE(unparked.ok()) << unparked.status();
  EXPECT_EQ(*unparked, 1);
  EXPECT_EQ(Count("id IN (SELECT id FROM outbox_unpublished) AND aggregate_id = 'order-poison'"),
            2);
  EXPECT_EQ(Count("parked_at IS NULL AND attempts = 0 AND sequence = 1"), 1);
  const std::string after = metrics::Registry::Default().RenderText();
  EXPECT_NE(after.find("orderly_outbox_parked{service=\"parking-test\"} 0"), std::string::npos);
  EXPECT_NE(after.find("orderly_outbox_backlog{service=\"parking-test\"} 2"), std::string::npos);

  auto records = ReadAll(topic_, 3, 20s);
  std::set<std::string> ok_ids;
  for (const auto& r : records) {
    v1::EventEnvelope ev;
    ASSERT_TRUE(ev.ParseFromString(r.value));
    if (r.key == "order-ok") ok_ids.insert(ev.event_id());
    EXPECT_NE(r.key, "order-poison") << "sequence " << ev.sequence() << " reached the topic";
  }
  EXPECT_EQ(ok_ids.size(), size_t{3});
}

TEST_F(EventFixture, PurgeDeletesPublishedRowsPastRetentionOnly) {
  for (int i = 0; i < 20; ++i) Write("order-" + std::to_string(i % 4));
  // A parked row: never published, never purged.
  const int64_t parked_seq = Write("order-parked");
  ORDERLY_ASSERT_OK(pool_->InTransaction([&](pqxx::transaction_base& tx) {
    tx.exec_params(
        "UPDATE outbox SET parked_at = now(), attempts = 12, last_error = 'test' "
        "WHERE aggregate_id = 'order-parked' AND sequence = $1",
        parked_seq);
    tx.exec("UPDATE outbox_unpublished SET failed = true");
    return absl::OkStatus();
  }));

  // Retention of an hour: everything is published, nothing is old enough to purge.
  {
    auto o = Relay();
    o.retention = std::chrono::hours(1);
    OutboxRelay relay(o);
    relay.Start();
    ASSERT_TRUE(WaitFor([&] { return Count("published_at IS NOT NULL") == 20; }, 30s));
    std::this_thread::sleep_for(300ms);  // idle: the purge ran
    relay.Stop();
  }
  EXPECT_EQ(Count("true"), 21);

  // Retention zero: the published rows go, the parked one stays.
  auto o = Relay();
  o.retention = std::chrono::hours(0);
  o.purge_batch = 7;  // several purge rounds
  OutboxRelay relay(o);
  relay.Start();
  EXPECT_TRUE(WaitFor([&] { return Count("true") == 1; }, 30s));
  relay.Stop();
  EXPECT_EQ(Count("aggregate_id = 'order-parked' AND parked_at IS NOT NULL"), 1);
  EXPECT_EQ(Count("id IN (SELECT id FROM outbox_unpublished)"), 1);
}

}  // namespace
}  // namespace orderly::events::testing
