#pragma once
// Per-channel circuit breaker. CLOSED: calls flow; outcomes go into a sliding window of time
// buckets. When the window holds at least min_calls and the failure share passes failure_rate, it
// OPENs: new payments fail fast with UNAVAILABLE "payment busy, try again later" for open_for.
// Then HALF_OPEN lets up to `probes` calls through; that many successes close it, any failure
// opens it again. Time comes from the injected clock.
#include <chrono>
#include <deque>
#include <mutex>
#include <string>

#include <absl/status/status.h>

#include "orderly/core/clock.hpp"

namespace orderly::payment {

struct BreakerOptions {
  double failure_rate = 0.05;
  int min_calls = 20;
  std::chrono::milliseconds window{30000};
  std::chrono::milliseconds bucket{1000};
  std::chrono::milliseconds open_for{10000};
  int probes = 3;
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  CircuitBreaker(std::string name, BreakerOptions options, ClockPtr clock);
  // OK to go ahead (then Record the outcome), or UNAVAILABLE with ErrorInfo CHANNEL_UNAVAILABLE.
  absl::Status Allow();
  void Record(bool success);
  State state();
  static const char* StateName(State s);

 private:
  struct Bucket {
    TimePoint start;
    int calls = 0;
    int failures = 0;
  };
  void Trim(TimePoint now);
  std::string name_;
  BreakerOptions o_;
  ClockPtr clock_;
  std::mutex mu_;
  State state_ = State::kClosed;
  std::deque<Bucket> buckets_;
  TimePoint opened_at_;
  int probes_in_flight_ = 0;
  int probe_successes_ = 0;
};

// Channel errors that count against the breaker: the channel did not answer properly.
bool IsChannelFailure(const absl::Status& s);

}  // namespace orderly::payment
