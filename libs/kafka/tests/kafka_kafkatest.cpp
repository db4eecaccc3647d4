#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>

#include "orderly/kafka/kafka.hpp"
#include "orderly/testing/env.hpp"
#include "orderly/testing/status_matchers.hpp"

namespace orderly::kafka {
namespace {

using namespace std::chrono_literals;

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ORDERLY_ASSERT_OK_AND_ASSIGN(brokers_, orderly::testing::KafkaBrokersFromEnv());
    ProducerOptions options;
    options.brokers = brokers_;
    ORDERLY_ASSERT_OK_AND_ASSIGN(producer_, Producer::Create(options));
  }

  ConsumerPtr MakeConsumer(const std::string& topic, const std::string& group,
                           ConsumerOptions options = {}) {
    options.brokers = brokers_;
    options.group_id = group;
    options.topics = {topic};
    auto c = Consumer::Create(std::move(options));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Polls until `want` records arrived or the deadline passed.
  std::vector<ConsumedRecord> PollUntil(Consumer& c, size_t want, size_t batch = 100,
                                        std::chrono::seconds limit = 60s) {
    std::vector<ConsumedRecord> all;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (all.size() < want && std::chrono::steady_clock::now() < deadline) {
      auto got = c.Poll(std::min(batch, want - all.size()), 500ms);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) break;
      for (auto& r : *got) all.push_back(std::move(r));
    }
    return all;
  }

  std::string brokers_;
  ProducerPtr producer_;
};

TEST_F(KafkaTest, EnsureTopicsIsIdempotentAndCreatesThePartitions) {
  const std::string topic = "ensure." + orderly::testing::UniqueSuffix();
  TopicSpec spec{topic, 3, 1, {{"retention.ms", "3600000"}}};
  ORDERLY_ASSERT_OK(EnsureTopics(brokers_, {spec}));
  ORDERLY_ASSERT_OK(EnsureTopics(brokers_, {spec}));

  auto results = producer_->ProduceBatch(
      {{topic, "k", "in range", {}, 2}, {topic, "k", "out of range", {}, 3}}, 10s);
  ASSERT_EQ(results.size(), 2u);
  ORDERLY_EXPECT_OK(results[0].status);
  EXPECT_EQ(results[0].partition, 2);
  EXPECT_EQ(results[0].offset, 0);
  EXPECT_FALSE(results[1].status.ok()) << "partition 3 of a 3-partition topic";

  TopicSpec bad{"bad." + orderly::testing::UniqueSuffix(), 1, 1, {{"no.such.setting", "x"}}};
  absl::Status s = EnsureTopics(brokers_, {bad});
  EXPECT_FALSE(s.ok());
}

TEST_F(KafkaTest, ProducedRecordsComeBackInPerKeyOrderWithHeaders) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string topic, orderly::testing::UniqueTopic("order", 4));
  std::vector<Record> records;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key-" + std::to_string(i % 10);
    const std::string seq = std::to_string(i / 10);
    records.push_back(
        {topic, key, key + "/" + seq, {{"seq", seq}, {"trace", "t-" + std::to_string(i)}}});
  }
  auto results = producer_->ProduceBatch(records, 30s);
  ASSERT_EQ(results.size(), records.size());
  std::map<std::string, int32_t> partition_of_key;
  std::map<int32_t, int64_t> last_offset;
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status;
    auto [it, inserted] = partition_of_key.emplace(records[i].key, results[i].partition);
    EXPECT_EQ(it->second, results[i].partition) << "a key moved between partitions";
    // Results are in input order, so offsets in one partition grow with the index.
    auto last = last_offset.find(results[i].partition);
    if (last != last_offset.end()) {
      EXPECT_GT(results[i].offset, last->second);
    }
    last_offset[results[i].partition] = results[i].offset;
  }
  ORDERLY_ASSERT_OK(producer_->Flush(5s));

  ConsumerPtr consumer = MakeConsumer(topic, "g." + orderly::testing::UniqueSuffix());
  ASSERT_NE(consumer, nullptr);
  auto got = PollUntil(*consumer, 1000);
  ASSERT_EQ(got.size(), 1000u);
  std::map<std::string, int> next_seq;
  std::set<std::string> traces;
  for (const auto& r : got) {
    EXPECT_EQ(r.partition, partition_of_key[r.key]);
    const int seq = std::stoi(r.Header("seq"));
    EXPECT_EQ(seq, next_seq[r.key]) << "key " << r.key << " out of order";
    next_seq[r.key] = seq + 1;
    EXPECT_EQ(r.value, r.key + "/" + std::to_string(seq));
    EXPECT_EQ(r.headers.size(), 2u);
    traces.insert(r.Header("trace"));
    EXPECT_GT(r.timestamp_ms, 0);
  }
  EXPECT_EQ(traces.size(), 1000u);
  EXPECT_EQ(next_seq.size(), 10u);
  EXPECT_EQ(consumer->Poll(10, 300ms)->size(), 0u) << "nothing beyond the 1000";
}

// A record librdkafka refuses at once (here: over message.max.bytes) must not be overtaken by a
// later record with the same key: that one is held back (UNAVAILABLE, the caller retries it after
// its predecessor), while other keys are produced as usual.
TEST_F(KafkaTest, ARefusedRecordIsNotOvertakenByItsKeysLaterRecords) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string topic,
                               orderly::testing::UniqueTopic("refused", 2));
  auto results = producer_->ProduceBatch({{topic, "a", std::string(1'500'000, 'x'), {}},
                                          {topic, "a", "after the refused one", {}},
                                          {topic, "b", "another key", {}}},
                                         30s);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_FALSE(results[0].status.ok());
  EXPECT_NE(results[0].status.code(), absl::StatusCode::kUnavailable) << results[0].status;
  EXPECT_EQ(results[1].status.code(), absl::StatusCode::kUnavailable) << results[1].status;
  ORDERLY_EXPECT_OK(results[2].status);
  ORDERLY_ASSERT_OK(producer_->Flush(5s));

  ConsumerPtr consumer = MakeConsumer(topic, "g." + orderly::testing::UniqueSuffix());
  ASSERT_NE(consumer, nullptr);
  auto got = PollUntil(*consumer, 1, 10, 30s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "b");
  EXPECT_EQ(consumer->Poll(10, 1s)->size(), 0u) << "key a reached the topic";
}

TEST_F(KafkaTest, CommittedOffsetIsWhereTheGroupResumesAndLagFollowsPosition) {
  ORDERLY_ASSERT_OK_AND_ASSIGN(const std::string topic, orderly::testing::UniqueTopic("resume", 1));
  std::vector<Record> records;
  for (int i = 0; i < 20; ++i) records.push_back({topic, "k", std::to_string(i), {}, 0});
  for (const auto& r : producer_->ProduceBatch(records, 30s)) ORDERLY_ASSERT_OK(r.status);
  const std::string group = "g." + orderly::testing::UniqueSuffix();

  std::vector<std::pair<std::string, int32_t>> assigned, revoked;
  ConsumerOptions options;
  options.on_assign = [&](const auto& tps) {
    assigned.insert(assigned.end(), tps.begin(), tps.end());
  };
  options.on_revoke = [&](const auto& tps) {
    revoked.insert(revoked.end(), tps.begin(), tps.end());
  };
  ConsumerPtr first = MakeConsumer(topic, group, options);
  ASSERT_NE(first, nullptr);
  auto got = PollUntil(*first, 5, /*batch=*/5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].offset, 0);
  EXPECT_EQ(got[4].offset, 4);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0], std::make_pair(topic, 0));

  auto lag = first->Lag();
  ASSERT_EQ(lag.size(), 1u);
  EXPECT_EQ((lag[{topic, 0}]), 15);

  // Redelivery after a failed handler: rewind to offset 2.
  ORDERLY_ASSERT_OK(first->Seek(topic, 0, 2));
  got = PollUntil(*first, 8, /*batch=*/8);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0].offset, 2);
  EXPECT_EQ(got[7].offset, 9);
  ORDERLY_ASSERT_OK(first->Commit(got[7]));  // offset 10 is next for the group
  first->Close();
  EXPECT_EQ(revoked.size(), 1u) << "closing leaves the group through on_revoke";

  ConsumerPtr second = MakeConsumer(topic, group);
  ASSERT_NE(second, nullptr);
  got = PollUntil(*second, 10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().offset, 10);
  EXPECT_EQ(got.front().value, "10");
  EXPECT_EQ(got.back().offset, 19);
  lag = second->Lag();
  EXPECT_EQ((lag[{topic, 0}]), 0);
}

TEST(KafkaProducer, UndeliverableRecordsReportWithinTheTimeout) {
  ProducerOptions options;
  options.brokers = "127.0.0.1:1";
  options.settings = {{"message.timeout.ms", "300"}};
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto producer, Producer::Create(options));
  const auto start = std::chrono::steady_clock::now();
  auto results = producer->ProduceBatch({{"nowhere", "k", "v", {}}, {"nowhere", "k", "w", {}}}, 5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  }
}

}  // namespace
}  // namespace orderly::kafka
