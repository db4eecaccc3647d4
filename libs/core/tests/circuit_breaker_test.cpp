// The shared circuit breaker: failure rate over a sliding window, open, half-open probes, and the
// lock-free "one failure opens" policy of the Redis path.
#include "orderly/core/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "orderly/core/status.hpp"

namespace orderly {
namespace {

using namespace std::chrono_literals;

TEST(CircuitBreakerTest, OpensAboveTheFailureRateThenProbes) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000));
  BreakerOptions o;
  o.min_calls = 20;
  o.failure_rate = 0.05;
  o.open_for = 10s;
  o.probes = 2;
  CircuitBreaker b("alipay", o, clock);
  for (int i = 0; i < 19; ++i) b.Record(true);
  b.Record(false);  // 1/20 = 5%: not above
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  b.Record(false);  // 2/21 > 5%
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  auto s = b.Allow();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(s), "DEPENDENCY_UNAVAILABLE");
  EXPECT_EQ(ErrorMetadata(s, "breaker"), "alipay");
  EXPECT_TRUE(b.IsOpen());
  clock->Advance(10s);
  EXPECT_TRUE(b.Allow().ok());  // half-open: probes go through
  EXPECT_TRUE(b.Allow().ok());
  EXPECT_FALSE(b.Allow().ok());  // only `probes` at once
  b.Record(true);
  b.Record(true);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
}

TEST(CircuitBreakerTest, AFailedProbeReopensAndOldFailuresAgeOut) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000));
  BreakerOptions o;
  o.min_calls = 4;
  o.window = 10s;
  CircuitBreaker b("wechatpay", o, clock);
  b.Record(false);
  b.Record(false);
  clock->Advance(11s);  // those two leave the window
  for (int i = 0; i < 4; ++i) b.Record(true);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  for (int i = 0; i < 4; ++i) b.Record(false);
  ASSERT_EQ(b.state(), CircuitBreaker::State::kOpen);
  clock->Advance(o.open_for);
  ASSERT_TRUE(b.Allow().ok());
  b.Record(false);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
}

TEST(CircuitBreakerTest, OneFailureOpensForAWhileThenAProbeClosesIt) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000));
  BreakerOptions o;
  o.failure_rate = 0;
  o.min_calls = 1;
  o.open_for = 500ms;
  o.probes = 1;
  CircuitBreaker b("redis", o, clock);
  // Successes from many threads while closed: nothing to count, nothing opens.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        EXPECT_TRUE(b.Allow().ok());
        b.Record(true);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  b.Record(false);
  EXPECT_TRUE(b.IsOpen());
  EXPECT_FALSE(b.Allow().ok());
  clock->Advance(499ms);
  EXPECT_TRUE(b.IsOpen());
  clock->Advance(1ms);
  EXPECT_FALSE(b.IsOpen());
  EXPECT_TRUE(b.Allow().ok());  // the probe
  EXPECT_TRUE(b.IsOpen());      // no second probe while it runs
  EXPECT_FALSE(b.Allow().ok());
  b.Record(true);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  EXPECT_FALSE(b.IsOpen());
}

}  // namespace
}  // namespace orderly
