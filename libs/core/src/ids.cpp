#include "orderly/core/ids.hpp"

#include <absl/strings/str_cat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "orderly/core/random.hpp"

namespace orderly {
namespace {

constexpr int64_t kEpochMs = 1704067200000;  // 2024-01-01T00:00:00Z
constexpr int kSeqBits = 7;
constexpr int kWorkerBits = 5;
constexpr int kSeqShift = kShardGeneBits;
constexpr int kWorkerShift = kSeqShift + kSeqBits;
constexpr int kTimeShift = kWorkerShift + kWorkerBits;
constexpr uint32_t kMaxSeq = (1u << kSeqBits) - 1;
constexpr uint32_t kMaxWorker = (1u << kWorkerBits) - 1;
constexpr int64_t kMaxTime = (int64_t{1} << 41) - 1;
constexpr int64_t kMaxBackwardsMs = 5000;

}  // namespace

uint32_t ShardGene(std::string_view buyer_id) {
  // 32-bit FNV-1a; other languages computing the gene must use the same variant.
  uint32_t h = 2166136261u;
  for (unsigned char c : buyer_id) {
    h ^= c;
    h *= 16777619u;
  }
  return h & static_cast<uint32_t>(kShardCount - 1);
}

uint32_t ShardOfOrderId(uint64_t order_id) {
  return static_cast<uint32_t>(order_id & (kShardCount - 1));
}

TimePoint TimeOfOrderId(uint64_t order_id) {
  return FromUnixMillis(static_cast<int64_t>(order_id >> kTimeShift) + kEpochMs);
}

OrderIdGenerator::OrderIdGenerator(uint32_t worker_id, ClockPtr clock)
    : worker_id_(worker_id), clock_(std::move(clock)) {
  if (worker_id_ > kMaxWorker) {
    std::fprintf(stderr, "OrderIdGenerator: worker id %u out of range 0..%u\n", worker_id_,
                 kMaxWorker);
    std::abort();
  }
}

absl::StatusOr<uint64_t> OrderIdGenerator::Next(std::string_view buyer_id) {
  const uint32_t gene = ShardGene(buyer_id);
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = ToUnixMillis(clock_->Now()) - kEpochMs;
  if (now < 0 || now > kMaxTime) {
    return absl::UnavailableError("clock outside the order id time range");
  }
  if (now < last_ms_ - kMaxBackwardsMs) {
    return absl::UnavailableError(absl::StrCat("clock moved backwards by ", last_ms_ - now,
                                               " ms; refusing to issue order ids"));
  }
  if (now <= last_ms_) {
    // Same millisecond, or a small step back: keep counting on the last millisecond so ids stay
    // strictly increasing.
    if (seq_ < kMaxSeq) {
      ++seq_;
    } else {
      // This millisecond is used up. Wait briefly for the clock; a clock that does not move (a
      // manual clock, or a clock that stepped back) gets the next millisecond borrowed instead,
      // which keeps ids unique and ordered at the cost of a timestamp a few ms early.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
      while (now <= last_ms_ && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::yield();
        now = ToUnixMillis(clock_->Now()) - kEpochMs;
      }
      last_ms_ = now > last_ms_ ? now : last_ms_ + 1;
      seq_ = 0;
    }
  } else {
    last_ms_ = now;
    seq_ = 0;
  }
  return (static_cast<uint64_t>(last_ms_) << kTimeShift) |
         (static_cast<uint64_t>(worker_id_) << kWorkerShift) |
         (static_cast<uint64_t>(seq_) << kSeqShift) | gene;
}

bool ParseId(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  // Ids are 63-bit and never 0 (0 is the unset proto value).
  if (v == 0 || v > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = v;
  return true;
}

std::string NewUuidV7() {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char b[16];
  RandomBytes(b + 6, 10);
  const uint64_t ms = static_cast<uint64_t>(ToUnixMillis(std::chrono::system_clock::now()));
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // variant 10
  char out[36];
  int o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = kHex[b[i] >> 4];
    out[o++] = kHex[b[i] & 0xf];
  }
  return std::string(out, sizeof(out));
}

}  // namespace orderly
