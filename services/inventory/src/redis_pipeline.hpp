#pragma once
// Pipelined Redis for the flash-sale hot path: one connection and one thread that sends every
// command queued meanwhile as one pipeline (one write, then the replies in order). Concurrent
// attempts share round trips and system calls, and no gRPC thread blocks on Redis: the callback
// runs on the pipeline thread, so it must be short (finish a call, or hand work to a pool).
//
// Errors: a Redis error reply is INTERNAL (NOT_FOUND "NOSCRIPT ..." when EVALSHA misses the
// script); connection loss or timeout fails the whole batch UNAVAILABLE and the next batch
// reconnects.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/statusor.h>

#include "orderly/redis/client.hpp"

struct redisContext;

namespace orderly::inventory {

class RedisPipeline {
 public:
  using Callback = std::function<void(absl::StatusOr<redis::Reply>)>;

  // host, port, connect_timeout and command_timeout are taken from options.
  explicit RedisPipeline(redis::ClientOptions options, size_t max_batch = 512);
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
  redisContext* ctx_ = nullptr;  // pipeline thread only
  std::thread thread_;
};

}  // namespace orderly::inventory
