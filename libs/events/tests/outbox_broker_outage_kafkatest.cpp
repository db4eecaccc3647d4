// The broker is stopped for 30 s while writes continue: the backlog grows, then drains when the
// broker is back, nothing lost and order per key intact. Stops the shared broker, so it runs
// serially (RUN_SERIAL in CMake).
#include <cstdlib>
#include <thread>

#include "event_fixture.hpp"

namespace orderly::events::testing {
namespace {

using namespace std::chrono_literals;

// ORDERLY_KAFKA_CTL (deploy/local/env.sh) stops and starts the broker the tests use.
int KafkaCtl(const std::string& action) {
  const std::string ctl = orderly::testing::Env("ORDERLY_KAFKA_CTL");
  EXPECT_FALSE(ctl.empty()) << "ORDERLY_KAFKA_CTL unset: source deploy/local/env.sh";
  return std::system((ctl + " " + action + " >/dev/null 2>&1").c_str());
}

TEST_F(EventFixture, BrokerDownThirtySecondsBacklogThenDrainInOrder) {
  auto o = Relay();
  o.produce_timeout = 3s;
  o.producer.settings["message.timeout.ms"] = "3000";
  OutboxRelay relay(o);
  relay.Start();
  int written = 0;
  for (; written < 50; ++written) Write("order-" + std::to_string(written % 7));
  ASSERT_TRUE(WaitDrained(30s));

  ASSERT_EQ(KafkaCtl("stop"), 0);
  auto outage_end = std::chrono::steady_clock::now() + 30s;
  int64_t max_backlog = 0;
  while (std::chrono::steady_clock::now() < outage_end) {
    for (int i = 0; i < 10; ++i, ++written) Write("order-" + std::to_string(written % 7));
    max_backlog = std::max(max_backlog, Count("published_at IS NULL"));
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_GT(max_backlog, 500);  // writes kept committing while the broker was away
  ASSERT_EQ(KafkaCtl("start"), 0);

  ASSERT_TRUE(WaitDrained(120s)) << Count("published_at IS NULL") << " still waiting";
  relay.Stop();
  EXPECT_EQ(Count("parked_at IS NOT NULL"), 0);  // an outage never parks events
  auto records = ReadAll(topic_, written, 60s);
  std::map<std::string, int64_t> max_seq;
  EXPECT_EQ(CheckOrderPerKey(records, &max_seq), static_cast<size_t>(written));
  int64_t total = 0;
  for (const auto& [k, m] : max_seq) total += m;
  EXPECT_EQ(total, written);
}

}  // namespace
}  // namespace orderly::events::testing
