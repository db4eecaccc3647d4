#pragma once
// Pipelined Redis for the flash-sale hot path: one connection; every command queued meanwhile is
// sent as one pipeline (one write, then the replies in order). Concurrent attempts share round
// trips and system calls. Who sends:
//  * caller_runs = false: a thread of its own; Submit only queues (and wakes it).
//  * caller_runs = true: the submitting thread that finds no batch in flight sends the queue
//    itself and keeps sending what arrives meanwhile until the queue is empty; other submitters
//    only queue. On the gRPC server this saves two thread wake-ups per batch (measured: half the
//    context switches of the flash-sale refusal run); the cost is that one gRPC callback thread at
//    a time waits on Redis, bounded by command_timeout.
// Callbacks run on the sending thread, so they must be short (finish a call, or hand work to a
// pool); a callback may Submit again (it is queued for the same sender).
//
// Errors: a Redis error reply is INTERNAL (NOT_FOUND "NOSCRIPT ..." when EVALSHA misses the
// script); connection loss or timeout fails the whole batch UNAVAILABLE and the next batch
// reconnects.
#include <absl/status/statusor.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "orderly/redis/client.hpp"

struct redisContext;

namespace orderly::inventory {

class RedisPipeline {
 public:
  using Callback = std::function<void(absl::StatusOr<redis::Reply>)>;

  // host, port, connect_timeout and command_timeout are taken from options.
  explicit RedisPipeline(redis::ClientOptions options, size_t max_batch = 512,
                         bool caller_runs = false);
  ~RedisPipeline();  // fails what is still queued with UNAVAILABLE
  RedisPipeline(const RedisPipeline&) = delete;
  RedisPipeline& operator=(const RedisPipeline&) = delete;

  void Submit(std::vector<std::string> argv, Callback done);

 private:
  struct Pending {
    std::vector<std::string> argv;
    Callback done;
  };
  void Loop();
  bool Connect();
  void RunBatch(std::vector<Pending>& batch);

  redis::ClientOptions options_;
  size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  const bool caller_runs_;
  bool leading_ = false;         // a caller is sending a batch (caller_runs_)
  redisContext* ctx_ = nullptr;  // pipeline thread / the leading caller only
  std::thread thread_;
};

}  // namespace orderly::inventory
