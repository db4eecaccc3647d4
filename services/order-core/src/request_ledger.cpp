#include "request_ledger.hpp"

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace orderly::order_core {
namespace {

// Pending entries: "Q|<claimed at, unix ms>|<value>". ("P|<value>", the form before the claim
// time was recorded, still parses: as pending since an unknown time.)
constexpr char kPending[] = "Q|";
constexpr char kLegacyPending[] = "P|";
constexpr char kDone[] = "D|";

// Sets KEYS[1] = ARGV[1] .. '|' .. ARGV[2] unless the stored version is newer (or equal with a
// payload, which makes a repeated fill a no-op).
constexpr char kVersionedSetLua[] = R"lua(
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local cv = tonumber(string.sub(cur, 1, sep - 1))
  if cv > v then return 0 end
  if cv == v and string.len(cur) > sep and string.len(ARGV[2]) == 0 then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
)lua";

RequestLedger::Entry Parse(const std::string& raw) {
  RequestLedger::Entry e;
  e.state =
      raw.rfind(kDone, 0) == 0 ? RequestLedger::State::kDone : RequestLedger::State::kInProgress;
  e.value = raw.size() >= 2 ? raw.substr(2) : "";
  if (raw.rfind(kPending, 0) == 0) {
    const size_t sep = e.value.find('|');
    if (sep == std::string::npos || !absl::SimpleAtoi(e.value.substr(0, sep), &e.claimed_at_ms)) {
      e.claimed_at_ms = 0;
    } else {
      e.value.erase(0, sep + 1);
    }
  } else if (raw.rfind(kLegacyPending, 0) != 0 && e.state != RequestLedger::State::kDone) {
    e.value.clear();  // not ours: never matches a request
  }
  return e;
}

}  // namespace

RequestLedger::Entry RequestLedger::Claim(const std::string& key, const std::string& value,
                                          int64_t now_ms) {
  if (redis_ == nullptr) return {};
  auto set = redis_->SetNx(redis_->Key(key), absl::StrCat(kPending, now_ms, "|", value), ttl_);
  if (!set.ok()) {
    spdlog::warn("request ledger unavailable: {}", set.status().ToString());
    return {};
  }
  if (*set) return {State::kClaimed, value, now_ms};
  return Peek(key);
}

RequestLedger::Entry RequestLedger::Peek(const std::string& key) {
  if (redis_ == nullptr) return {};
  auto got = redis_->Get(redis_->Key(key));
  if (!got.ok()) return {};
  if (!got->has_value()) return {State::kClaimed, ""};  // vanished: the first request gave up
  return Parse(**got);
}

RequestLedger::Entry RequestLedger::AwaitSettled(const std::string& key, Entry entry,
                                                 std::chrono::milliseconds wait,
                                                 const std::function<bool(const Entry&)>& give_up) {
  const auto until = std::chrono::steady_clock::now() + wait;
  while (entry.state == State::kInProgress && !give_up(entry) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    entry = Peek(key);
  }
  return entry;
}

void RequestLedger::Complete(const std::string& key, const std::string& value) {
  if (redis_ == nullptr) return;
  if (auto s = redis_->Set(redis_->Key(key), kDone + value, ttl_); !s.ok()) {
    spdlog::warn("request ledger: cannot record completion: {}", s.ToString());
  }
}

void RequestLedger::Abandon(const std::string& key) {
  if (redis_ == nullptr) return;
  (void)redis_->Del(redis_->Key(key));
}

std::optional<std::string> OrderCache::Get(int64_t order_id) {
  if (redis_ == nullptr) return std::nullopt;
  auto got = redis_->Get(redis_->Key("order:" + std::to_string(order_id)));
  if (!got.ok() || !got->has_value()) return std::nullopt;
  const std::string& raw = **got;
  const size_t sep = raw.find('|');
  if (sep == std::string::npos || sep + 1 >= raw.size()) return std::nullopt;
  return raw.substr(sep + 1);
}

void OrderCache::Put(int64_t order_id, int64_t version, const std::string& payload) {
  if (redis_ == nullptr) return;
  (void)redis_->Eval(kVersionedSetLua, {redis_->Key("order:" + std::to_string(order_id))},
                     {std::to_string(version), payload, std::to_string(ttl_.count())});
}

void OrderCache::Fence(int64_t order_id, int64_t version) {
  if (redis_ == nullptr) return;
  auto r = redis_->Eval(kVersionedSetLua, {redis_->Key("order:" + std::to_string(order_id))},
                        {std::to_string(version), "", std::to_string(ttl_.count())});
  if (!r.ok()) {
    // Could not fence: drop the entry instead so no older copy outlives the write.
    (void)redis_->Del(redis_->Key("order:" + std::to_string(order_id)));
  }
}

}  // namespace orderly::order_core
