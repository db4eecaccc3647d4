#include "circuit_breaker.hpp"

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/metrics.hpp"
#include "orderly/core/status.hpp"

namespace orderly::payment {

CircuitBreaker::CircuitBreaker(std::string name, BreakerOptions options, ClockPtr clock)
    : name_(std::move(name)), o_(options), clock_(std::move(clock)) {}

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

absl::Status CircuitBreaker::Allow() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_->Now();
  if (state_ == State::kOpen && now - opened_at_ >= o_.open_for) {
    state_ = State::kHalfOpen;
    probes_in_flight_ = 0;
    probe_successes_ = 0;
  }
  if (state_ == State::kClosed) return absl::OkStatus();
  if (state_ == State::kHalfOpen && probes_in_flight_ < o_.probes) {
    ++probes_in_flight_;
    return absl::OkStatus();
  }
  metrics::Registry::Default()
      .GetCounter("orderly_payment_breaker_rejected_total", "payments refused by an open breaker", {{"channel", name_}})
      .Inc();
  return ErrorWithInfo(absl::StatusCode::kUnavailable, "payment busy, try again later (" + name_ + " is failing)",
                       "CHANNEL_UNAVAILABLE", {{"channel", name_}});
}

void CircuitBreaker::Record(bool success) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_->Now();
  if (state_ == State::kHalfOpen) {
    if (probes_in_flight_ > 0) --probes_in_flight_;
    if (!success) {
      state_ = State::kOpen;
      opened_at_ = now;
      return;
    }
    if (++probe_successes_ >= o_.probes) {
      state_ = State::kClosed;
      buckets_.clear();
    }
    return;
  }
  if (state_ == State::kOpen) return;
  Trim(now);
  if (buckets_.empty() || now - buckets_.back().start >= o_.bucket) buckets_.push_back(Bucket{now});
  ++buckets_.back().calls;
  if (!success) ++buckets_.back().failures;
  int calls = 0, failures = 0;
  for (const auto& b : buckets_) calls += b.calls, failures += b.failures;
  if (calls >= o_.min_calls && static_cast<double>(failures) / calls > o_.failure_rate) {
    state_ = State::kOpen;
    opened_at_ = now;
    metrics::Registry::Default()
        .GetCounter("orderly_payment_breaker_opened_total", "times a channel breaker opened", {{"channel", name_}})
        .Inc();
  }
}

CircuitBreaker::State CircuitBreaker::state() {
  std::lock_guard lock(mu_);
  if (state_ == State::kOpen && clock_->Now() - opened_at_ >= o_.open_for) return State::kHalfOpen;
  return state_;
}

bool IsChannelFailure(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

}  // namespace orderly::payment
