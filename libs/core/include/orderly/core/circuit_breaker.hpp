#pragma once
// The one circuit breaker policy of every outbound dependency (payment channels, inventory's Redis
// path). CLOSED: calls flow; outcomes go into a sliding window of time buckets. When the window
// holds at least min_calls and the failure share is above failure_rate, it OPENs: Allow() refuses
// for open_for. Then HALF_OPEN lets up to `probes` calls through; that many successes close it,
// any failure opens it again. Time comes from the injected clock.
//
// The closed state is lock-free for callers: Allow() is an atomic load, and so is Record(true)
// when a single failure is enough to open (failure_rate 0, min_calls 1: "after a failure, use the
// fallback for a while", the Redis path's policy at 15k+ calls/s). Other outcomes take a mutex.
//
//   orderly_circuit_breaker_opened_total{breaker}, orderly_circuit_breaker_rejected_total{breaker}
#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>

#include "orderly/core/clock.hpp"

namespace orderly {

struct BreakerOptions {
  double failure_rate = 0.05;  // opens when failures / calls is above this
  int min_calls = 20;          // ... and the window holds at least this many calls
  std::chrono::milliseconds window{30000};
  std::chrono::milliseconds bucket{1000};
  std::chrono::milliseconds open_for{10000};
  int probes = 3;
  // What Allow() answers while open: UNAVAILABLE with this ErrorInfo reason and message.
  std::string reject_reason = "DEPENDENCY_UNAVAILABLE";
  std::string reject_message = "dependency is failing, try again later";
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  CircuitBreaker(std::string name, BreakerOptions options, ClockPtr clock);
  // OK to go ahead (then Record the outcome), or UNAVAILABLE with ErrorInfo reject_reason and
  // metadata {breaker: name}.
  absl::Status Allow();
  // Whether Allow() would refuse now, without taking a probe slot.
  bool IsOpen();
  void Record(bool success);
  State state();
  const std::string& name() const { return name_; }
  static const char* StateName(State s);

 private:
  struct Bucket {
    TimePoint start;
    int calls = 0;
    int failures = 0;
  };
  void Trim(TimePoint now);
  void OpenLocked(TimePoint now);
  bool OneFailureOpens() const { return o_.failure_rate <= 0 && o_.min_calls <= 1; }

  std::string name_;
  BreakerOptions o_;
  ClockPtr clock_;
  std::mutex mu_;
  std::atomic<State> state_{State::kClosed};
  std::atomic<int64_t> open_until_ms_{0};
  std::deque<Bucket> buckets_;
  int probes_in_flight_ = 0;
  int probe_successes_ = 0;
};

}  // namespace orderly
