#pragma once
// Time comes from an injected clock so tests can drive timeouts, expiries and deadlines.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace orderly {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};
using ClockPtr = std::shared_ptr<Clock>;

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  static ClockPtr Shared();
};

// A clock tests move by hand.
class ManualClock : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_(start) {}
  TimePoint Now() const override;
  void Advance(std::chrono::milliseconds d);
  void Set(TimePoint t);

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);
std::string ToRfc3339(TimePoint t);  // "2026-11-22T08:44:01.123Z"
// Microseconds since the Unix epoch as "2026-11-22T08:44:01.123456Z" (a timestamptz literal).
std::string Rfc3339FromUnixMicros(int64_t unix_micros);

}  // namespace orderly
