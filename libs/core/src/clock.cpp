#include "orderly/core/clock.hpp"

#include <cstdio>
#include <ctime>

namespace orderly {

ClockPtr SystemClock::Shared() {
  static const ClockPtr kClock = std::make_shared<SystemClock>();
  return kClock;
}

TimePoint ManualClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

void ManualClock::Advance(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ += d;
}

void ManualClock::Set(TimePoint t) {
  std::lock_guard<std::mutex> lock(mu_);
  now_ = t;
}

int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

namespace {

// UTC with `digits` fractional digits of `frac` (0 <= frac < 10^digits) after `secs`.
std::string FormatUtc(int64_t secs, int64_t frac, int digits) {
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%0*lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, digits,
                static_cast<long long>(frac));
  return buf;
}

// Floor division, so instants before 1970 still format correctly.
std::string FormatUnits(int64_t units, int64_t per_second, int digits) {
  int64_t secs = units / per_second;
  int64_t frac = units % per_second;
  if (frac < 0) {
    frac += per_second;
    secs -= 1;
  }
  return FormatUtc(secs, frac, digits);
}

}  // namespace

std::string ToRfc3339(TimePoint t) { return FormatUnits(ToUnixMillis(t), 1000, 3); }

std::string Rfc3339FromUnixMicros(int64_t unix_micros) {
  return FormatUnits(unix_micros, 1000000, 6);
}

}  // namespace orderly
