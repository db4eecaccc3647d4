#pragma once
// Order ids: 63-bit, time-ordered, and routable. Layout (high to low):
//   41 bits  milliseconds since 2024-01-01T00:00:00Z (good until 2093)
//    5 bits  worker id (0..31, from config; unique per running instance)
//    7 bits  sequence within the millisecond (128 ids/ms per worker)
//   10 bits  shard gene = the buyer's shard (ShardGene(buyer_id)), so an order id alone routes
//            to the buyer's shard without a lookup (design articles: "gene" method).
#include <absl/status/statusor.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "orderly/core/clock.hpp"

namespace orderly {

inline constexpr int kShardGeneBits = 10;
inline constexpr uint64_t kShardCount = 1ULL << kShardGeneBits;

// Stable gene of a buyer id (32-bit FNV-1a of the id string, low 10 bits).
uint32_t ShardGene(std::string_view buyer_id);
uint32_t ShardOfOrderId(uint64_t order_id);
TimePoint TimeOfOrderId(uint64_t order_id);

class OrderIdGenerator {
 public:
  OrderIdGenerator(uint32_t worker_id, ClockPtr clock);
  // Thread-safe; strictly increasing per generator. Waits for the next ms when a ms is exhausted
  // and refuses (UNAVAILABLE) if the clock moved backwards more than 5 s.
  absl::StatusOr<uint64_t> Next(std::string_view buyer_id);

 private:
  uint32_t worker_id_;
  ClockPtr clock_;
  std::mutex mu_;
  int64_t last_ms_ = -1;
  uint32_t seq_ = 0;
};

// Parses a decimal id string from the API; INVALID_ARGUMENT-worthy when false.
bool ParseId(std::string_view s, uint64_t* out);

// RFC 9562 UUIDv7 string (time-ordered), for event ids and request ids.
std::string NewUuidV7();

}  // namespace orderly
