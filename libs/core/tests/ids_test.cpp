#include "orderly/core/ids.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <thread>

namespace orderly {
namespace {

TEST(OrderIdTest, MonotonicAndUniqueAcrossThreads) {
  OrderIdGenerator gen(7, SystemClock::Shared());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25000;
  std::vector<std::vector<uint64_t>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& out = per_thread[t];
      out.reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        auto id = gen.Next("buyer-" + std::to_string(i % 50));
        ASSERT_TRUE(id.ok()) << id.status();
        out.push_back(*id);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (const auto& v : per_thread) {
    // Each thread sees strictly increasing ids.
    for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
    all.insert(all.end(), v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "duplicate id";
  EXPECT_LT(all.back(), uint64_t{1} << 63);
}

TEST(OrderIdTest, ShardGeneRoundTrips) {
  OrderIdGenerator gen(3, SystemClock::Shared());
  std::set<uint32_t> genes;
  for (const char* buyer : {"u1", "u2", "alice", "bob", "1234567890", ""}) {
    auto id = gen.Next(buyer);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(ShardOfOrderId(*id), ShardGene(buyer)) << buyer;
    EXPECT_LT(ShardGene(buyer), kShardCount);
    genes.insert(ShardGene(buyer));
  }
  EXPECT_GT(genes.size(), 3u) << "genes should spread";
  // FNV-1a 32 of "" is the offset basis 0x811c9dc5; low 10 bits = 0x1c5.
  EXPECT_EQ(ShardGene(""), 0x1c5u);
  EXPECT_EQ(ShardGene("alice"), ShardGene(std::string("alice")));
}

TEST(OrderIdTest, TimeDecodes) {
  const TimePoint t = FromUnixMillis(1790000000123);  // 2026-09
  auto clock = std::make_shared<ManualClock>(t);
  OrderIdGenerator gen(31, clock);
  auto id = gen.Next("buyer");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(ToUnixMillis(TimeOfOrderId(*id)), 1790000000123);
  // Worker id sits above sequence and gene.
  EXPECT_EQ((*id >> 17) & 31, 31u);
}

TEST(OrderIdTest, ExhaustedMillisecondBorrowsNextWithManualClock) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1790000000000));
  OrderIdGenerator gen(0, clock);
  uint64_t prev = 0;
  for (int i = 0; i < 300; ++i) {  // > 128 per ms
    auto id = gen.Next("b");
    ASSERT_TRUE(id.ok());
    ASSERT_GT(*id, prev);
    prev = *id;
  }
  EXPECT_EQ(ToUnixMillis(TimeOfOrderId(prev)), 1790000000002);
}

TEST(OrderIdTest, ClockGoingBackwards) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1790000000000));
  OrderIdGenerator gen(1, clock);
  auto first = gen.Next("b");
  ASSERT_TRUE(first.ok());
  clock->Advance(std::chrono::milliseconds(-2000));  // small step back: still increasing
  auto second = gen.Next("b");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(*second, *first);
  clock->Advance(std::chrono::milliseconds(-4000));  // 6 s behind the last id: refused
  auto third = gen.Next("b");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kUnavailable);
  clock->Advance(std::chrono::milliseconds(7000));  // caught up again
  auto fourth = gen.Next("b");
  ASSERT_TRUE(fourth.ok());
  EXPECT_GT(*fourth, *second);
}

TEST(ParseIdTest, Cases) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseId("42", &v));
  EXPECT_EQ(v, 42u);
  EXPECT_TRUE(ParseId("9223372036854775807", &v));
  EXPECT_EQ(v, uint64_t{INT64_MAX});
  EXPECT_FALSE(ParseId("9223372036854775808", &v));
  EXPECT_FALSE(ParseId("99999999999999999999", &v));
  EXPECT_FALSE(ParseId("", &v));
  EXPECT_FALSE(ParseId("0", &v));
  EXPECT_FALSE(ParseId("-1", &v));
  EXPECT_FALSE(ParseId("12a", &v));
  EXPECT_FALSE(ParseId(" 12", &v));
}

TEST(UuidV7Test, FormatVersionAndOrder) {
  const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuidV7();
    ASSERT_TRUE(std::regex_match(u, re)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  // The first 48 bits are the unix time in ms.
  const std::string u = NewUuidV7();
  const uint64_t ms = std::stoull(u.substr(0, 8) + u.substr(9, 4), nullptr, 16);
  const int64_t now = ToUnixMillis(std::chrono::system_clock::now());
  EXPECT_LE(static_cast<int64_t>(ms), now);
  EXPECT_GT(static_cast<int64_t>(ms), now - 5000);
}

}  // namespace
}  // namespace orderly
