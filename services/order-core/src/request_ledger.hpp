#pragma once
// Idempotency layer 1: the buyer's request_id remembered in Redis for a few minutes, so a double
// click or a client retry is answered without touching inventory or PostgreSQL. Redis being down
// only removes this layer: the order id primary key and the (buyer, request_id) unique index
// still guard the database.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "orderly/redis/client.hpp"

namespace orderly::order_core {

class RequestLedger {
 public:
  enum class State { kClaimed, kInProgress, kDone, kUnavailable };
  struct Entry {
    State state = State::kUnavailable;
    std::string value;  // what the first request stored: "<order_id>|<fingerprint>"
    // kInProgress: when the first request claimed the key (0 when the entry does not say).
    int64_t claimed_at_ms = 0;
  };

  RequestLedger(redis::Client* redis, std::chrono::milliseconds ttl) : redis_(redis), ttl_(ttl) {}

  // Claims key for this request at now_ms, or tells what an earlier request with the key left
  // there. A pending entry records its claim time: Redis can lose the "done" write that follows
  // (appendfsync everysec, a crash), and a pending entry older than any request can run is such
  // a leftover, not a request in flight.
  Entry Claim(const std::string& key, const std::string& value, int64_t now_ms);
  // Re-reads a key claimed by someone else.
  Entry Peek(const std::string& key);
  // Polls a key another request holds (every 10 ms) until it is no longer in progress,
  // `give_up(entry)` says stop (a leftover), or `wait` has passed; returns the last entry read.
  Entry AwaitSettled(const std::string& key, Entry entry, std::chrono::milliseconds wait,
                     const std::function<bool(const Entry&)>& give_up);
  void Complete(const std::string& key, const std::string& value);
  void Abandon(const std::string& key);

 private:
  redis::Client* redis_;
  std::chrono::milliseconds ttl_;
};

// Cache-aside of whole orders keyed by id, versioned: a write fences the key with its new version
// and a fill with an older version is refused, so a reader never gets a status older than the
// last committed write it could have seen.
class OrderCache {
 public:
  OrderCache(redis::Client* redis, std::chrono::milliseconds ttl) : redis_(redis), ttl_(ttl) {}
  // The cached serialized order, or nullopt (miss, fence only, or Redis down).
  std::optional<std::string> Get(int64_t order_id);
  // Stores the order at `version` unless a newer version (or fence) is there.
  void Put(int64_t order_id, int64_t version, const std::string& payload);
  // After a committed write: anything older than `version` must not be served or stored.
  void Fence(int64_t order_id, int64_t version);

 private:
  redis::Client* redis_;
  std::chrono::milliseconds ttl_;
};

}  // namespace orderly::order_core
