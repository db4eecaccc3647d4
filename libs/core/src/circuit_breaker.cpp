#include "orderly/core/circuit_breaker.hpp"

#include "orderly/core/metrics.hpp"
#include "orderly/core/status.hpp"

namespace orderly {

CircuitBreaker::CircuitBreaker(std::string name, BreakerOptions options, ClockPtr clock)
    : name_(std::move(name)), o_(std::move(options)), clock_(std::move(clock)) {}

const char* CircuitBreaker::StateName(State s) {
  switch (s) {
    case State::kClosed: return "closed";
    case State::kOpen: return "open";
    case State::kHalfOpen: return "half_open";
  }
  return "?";
}

void CircuitBreaker::Trim(TimePoint now) {
  while (!buckets_.empty() && buckets_.front().start + o_.window <= now) buckets_.pop_front();
}

void CircuitBreaker::OpenLocked(TimePoint now) {
  open_until_ms_.store(ToUnixMillis(now + o_.open_for), std::memory_order_relaxed);
  state_.store(State::kOpen, std::memory_order_release);
  metrics::Registry::Default()
      .GetCounter("orderly_circuit_breaker_opened_total", "Times a circuit breaker opened",
                  {{"breaker", name_}})
      .Inc();
}

bool CircuitBreaker::IsOpen() {
  const State s = state_.load(std::memory_order_acquire);
  if (s == State::kClosed) return false;
  if (s == State::kOpen) {
    return ToUnixMillis(clock_->Now()) < open_until_ms_.load(std::memory_order_relaxed);
  }
  std::lock_guard lock(mu_);
  return probes_in_flight_ >= o_.probes;
}

absl::Status CircuitBreaker::Allow() {
  if (state_.load(std::memory_order_acquire) == State::kClosed) return absl::OkStatus();
  {
    std::lock_guard lock(mu_);
    const TimePoint now = clock_->Now();
    State s = state_.load(std::memory_order_relaxed);
    if (s == State::kOpen && ToUnixMillis(now) >= open_until_ms_.load(std::memory_order_relaxed)) {
      s = State::kHalfOpen;
      state_.store(s, std::memory_order_release);
      probes_in_flight_ = 0;
      probe_successes_ = 0;
    }
    if (s == State::kClosed) return absl::OkStatus();
    if (s == State::kHalfOpen && probes_in_flight_ < o_.probes) {
      ++probes_in_flight_;
      return absl::OkStatus();
    }
  }
  metrics::Registry::Default()
      .GetCounter("orderly_circuit_breaker_rejected_total", "Calls refused by an open breaker",
                  {{"breaker", name_}})
      .Inc();
  return ErrorWithInfo(absl::StatusCode::kUnavailable, o_.reject_message + " (" + name_ + ")",
                       o_.reject_reason, {{"breaker", name_}});
}

void CircuitBreaker::Record(bool success) {
  // Closed and one failure is all it takes: a success has nothing to count.
  if (success && OneFailureOpens() && state_.load(std::memory_order_acquire) == State::kClosed) {
    return;
  }
  std::lock_guard lock(mu_);
  const TimePoint now = clock_->Now();
  const State s = state_.load(std::memory_order_relaxed);
  if (s == State::kHalfOpen) {
    if (probes_in_flight_ > 0) --probes_in_flight_;
    if (!success) {
      OpenLocked(now);
      return;
    }
    if (++probe_successes_ >= o_.probes) {
      state_.store(State::kClosed, std::memory_order_release);
      buckets_.clear();
    }
    return;
  }
  if (s == State::kOpen) return;
  Trim(now);
  if (buckets_.empty() || now - buckets_.back().start >= o_.bucket) buckets_.push_back(Bucket{now});
  ++buckets_.back().calls;
  if (!success) ++buckets_.back().failures;
  int calls = 0, failures = 0;
  for (const auto& b : buckets_) calls += b.calls, failures += b.failures;
  if (failures > 0 && calls >= o_.min_calls &&
      static_cast<double>(failures) / calls > o_.failure_rate) {
    buckets_.clear();
    OpenLocked(now);
  }
}

CircuitBreaker::State CircuitBreaker::state() {
  const State s = state_.load(std::memory_order_acquire);
  if (s == State::kOpen &&
      ToUnixMillis(clock_->Now()) >= open_until_ms_.load(std::memory_order_relaxed)) {
    return State::kHalfOpen;
  }
  return s;
}

}  // namespace orderly
