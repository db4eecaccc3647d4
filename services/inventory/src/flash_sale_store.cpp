#include "flash_sale_store.hpp"

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <spdlog/spdlog.h>

namespace orderly::inventory {
namespace {

// KEYS: stock, epoch, resv, grants. ARGV: order_id, quantity, epoch, expires_at_ms.
// Replies {"OK", left, grant_id} | {"DUP", state, qty, grant_id} | {"SOLD_OUT", left} |
// {"NOT_WARM", redis_epoch}.
constexpr char kReserveLua[] = R"lua(
local e = redis.call('GET', KEYS[2])
if (not e) or tonumber(e) ~= tonumber(ARGV[3]) then return {'NOT_WARM', e or '0'} end
local prev = redis.call('HGET', KEYS[3], ARGV[1])
if prev then
  local st, q, ep, gid = string.match(prev, '^(%a):(%d+):(%d+):(.*)$')
  -- an unpersisted grant of an older epoch was refused by the database: decide again
  if st ~= 'g' or tonumber(ep) == tonumber(ARGV[3]) then return {'DUP', st, q, gid} end
end
local qty = tonumber(ARGV[2])
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left < qty then return {'SOLD_OUT', tostring(left)} end
left = redis.call('DECRBY', KEYS[1], qty)
local id = redis.call('XADD', KEYS[4], '*', 'o', ARGV[1], 'q', ARGV[2], 'e', ARGV[3], 'x', ARGV[4])
redis.call('HSET', KEYS[3], ARGV[1], 'g:' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. id)
return {'OK', tostring(left), id}
)lua";

// KEYS: resv, grants. ARGV: order_id, grant_id.
constexpr char kMarkPersistedLua[] = R"lua(
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then
  local st, q, ep, gid = string.match(prev, '^(%a):(%d+):(%d+):(.*)$')
  if st == 'g' and gid == ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], 'p:' .. q .. ':' .. ep .. ':' .. gid)
  end
end
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
)lua";

// KEYS: stock, epoch, resv, grants. ARGV: order_id, grant_id, mode, epoch, qty.
// Restocks at most once per grant: only while the order's record is still this grant's 'g'.
constexpr char kRevokeLua[] = R"lua(
local prev = redis.call('HGET', KEYS[3], ARGV[1])
local restocked = 0
if prev then
  local st, q, ep, gid = string.match(prev, '^(%a):(%d+):(%d+):(.*)$')
  if st == 'g' and gid == ARGV[2] then
    local mode = ARGV[3]
    if mode == 'tombstone' then
      redis.call('HSET', KEYS[3], ARGV[1], 'r:' .. q .. ':' .. ep .. ':' .. gid)
    elseif mode == 'duplicate' then
      redis.call('HSET', KEYS[3], ARGV[1], 'p:' .. q .. ':' .. ep .. ':' .. gid)
    else
      redis.call('HDEL', KEYS[3], ARGV[1])
    end
    if mode ~= 'drop' and tonumber(redis.call('GET', KEYS[2]) or '0') == tonumber(ARGV[4]) then
      redis.call('INCRBY', KEYS[1], tonumber(ARGV[5]))
      restocked = 1
    end
  end
end
redis.call('XDEL', KEYS[4], ARGV[2])
return restocked
)lua";

// KEYS: stock, epoch. ARGV: epoch, units.
constexpr char kWarmLua[] = R"lua(
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur > tonumber(ARGV[1]) then return {'NEWER', tostring(cur)} end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
return {'OK', ARGV[2]}
)lua";

// KEYS: stock, epoch, resv. ARGV: epoch, pool_available, repair (1/0), then (order_id, qty,
// live) triples of every order the database holds on the pool. Runs while the caller holds the
// database row lock of the pool, so no grant persists meanwhile: pool - (grants of this epoch
// not in the database) is exactly what Redis may still grant.
constexpr char kReconcileLua[] = R"lua(
local E = tonumber(ARGV[1])
local repair = ARGV[3] == '1'
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur > E then return {'NEWER', tostring(cur)} end
local db = {}
local backfilled = 0
for i = 4, #ARGV, 3 do
  local o, q, live = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local want = (live == '1') and 'p' or 'r'
  db[o] = true
  local prev = redis.call('HGET', KEYS[3], o)
  local st, pq, ep, gid = nil, q, E, ''
  if prev then st, pq, ep, gid = string.match(prev, '^(%a):(%d+):(%d+):(.*)$') end
  if st ~= want then
    backfilled = backfilled + 1
    if repair then redis.call('HSET', KEYS[3], o, want .. ':' .. pq .. ':' .. ep .. ':' .. gid) end
  end
end
local pending = 0
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local st, q, ep = string.match(all[i + 1], '^(%a):(%d+):(%d+):')
  if st == 'g' and tonumber(ep) == E and not db[all[i]] then pending = pending + tonumber(q) end
end
local expected = tonumber(ARGV[2]) - pending
if expected < 0 then expected = 0 end
local before = tonumber(redis.call('GET', KEYS[1]) or '-1')
local rewarmed = 0
if repair then
  if cur ~= E then
    redis.call('SET', KEYS[2], tostring(E))
    rewarmed = 1
  end
  if before ~= expected then redis.call('SET', KEYS[1], tostring(expected)) end
end
return {'OK', tostring(before), tostring(expected), tostring(pending), tostring(backfilled),
        tostring(rewarmed)}
)lua";

int64_t ToInt(const std::string& s) {
  int64_t v = 0;
  return absl::SimpleAtoi(s, &v) ? v : 0;
}

std::string Elem(const redis::Reply& r, size_t i) {
  if (r.type != redis::Reply::Type::kArray || i >= r.elements.size()) return "";
  const auto& e = r.elements[i];
  if (e.type == redis::Reply::Type::kInteger) return std::to_string(e.integer);
  return e.str;
}

const char* ModeName(RevokeMode m) {
  switch (m) {
    case RevokeMode::kDrop: return "drop";
    case RevokeMode::kRestock: return "restock";
    case RevokeMode::kTombstone: return "tombstone";
    case RevokeMode::kDuplicate: return "duplicate";
  }
  return "drop";
}

}  // namespace

const std::string& FlashReserveScript() {
  static const std::string kScript = kReserveLua;
  return kScript;
}

std::vector<std::string> RedisFlashSaleStore::Keys(const std::string& sku_id) const {
  // One hash tag per SKU: every key of a sale lives in one cluster slot.
  const std::string base = "fs:{" + sku_id + "}:";
  return {client_.Key(base + "stock"), client_.Key(base + "epoch"), client_.Key(base + "resv"),
          client_.Key(base + "grants")};
}

namespace {

absl::StatusOr<FlashGrant> GrantFromReply(const redis::Reply& reply) {
  const std::string tag = Elem(reply, 0);
  FlashGrant g;
  if (tag == "OK") {
    g.kind = FlashGrant::Kind::kGranted;
    g.remaining = ToInt(Elem(reply, 1));
    g.grant_id = Elem(reply, 2);
  } else if (tag == "DUP") {
    g.kind = FlashGrant::Kind::kDuplicate;
    const std::string st = Elem(reply, 1);
    g.dup_state = st.empty() ? 'g' : st[0];
    g.dup_quantity = ToInt(Elem(reply, 2));
    g.grant_id = Elem(reply, 3);
  } else if (tag == "SOLD_OUT") {
    g.kind = FlashGrant::Kind::kSoldOut;
    g.remaining = ToInt(Elem(reply, 1));
  } else if (tag == "NOT_WARM") {
    g.kind = FlashGrant::Kind::kNotWarm;
  } else {
    return absl::InternalError("flash reserve script: unexpected reply " + tag);
  }
  return g;
}

}  // namespace

absl::StatusOr<FlashGrant> RedisFlashSaleStore::TryReserve(const std::string& sku_id, int64_t epoch,
                                                           const std::string& order_id,
                                                           int64_t quantity, TimePoint expires_at) {
  auto reply = client_.Eval(kReserveLua, Keys(sku_id),
                            {order_id, std::to_string(quantity), std::to_string(epoch),
                             std::to_string(ToUnixMillis(expires_at))});
  if (!reply.ok()) return reply.status();
  return GrantFromReply(*reply);
}

void RedisFlashSaleStore::TryReserveAsync(const std::string& sku_id, int64_t epoch,
                                          const std::string& order_id, int64_t quantity,
                                          TimePoint expires_at, GrantCallback done) {
  if (pipeline_ == nullptr) {
    done(TryReserve(sku_id, epoch, order_id, quantity, expires_at));
    return;
  }
  static const std::string kSha = redis::ScriptSha1(kReserveLua);
  std::vector<std::string> argv = {"EVALSHA", kSha, "4"};
  for (auto& k : Keys(sku_id)) argv.push_back(std::move(k));
  argv.push_back(order_id);
  argv.push_back(std::to_string(quantity));
  argv.push_back(std::to_string(epoch));
  argv.push_back(std::to_string(ToUnixMillis(expires_at)));
  pipeline_->Submit(std::move(argv), [this, sku_id, epoch, order_id, quantity, expires_at,
                                      done = std::move(done)](absl::StatusOr<redis::Reply> r) {
    if (r.status().code() == absl::StatusCode::kNotFound) {
      // NOSCRIPT (Redis restarted or flushed its scripts): the pooled client loads it; rare.
      done(TryReserve(sku_id, epoch, order_id, quantity, expires_at));
      return;
    }
    if (!r.ok()) {
      done(r.status());
      return;
    }
    done(GrantFromReply(*r));
  });
}

absl::Status RedisFlashSaleStore::MarkPersisted(const std::string& sku_id,
                                                const std::string& order_id,
                                                const std::string& grant_id) {
  auto keys = Keys(sku_id);
  auto reply = client_.Eval(kMarkPersistedLua, {keys[2], keys[3]}, {order_id, grant_id});
  return reply.ok() ? absl::OkStatus() : reply.status();
}

void FlashSaleStore::MarkPersistedAsync(const std::string& sku_id, const std::string& order_id,
                                        const std::string& grant_id) {
  if (auto s = MarkPersisted(sku_id, order_id, grant_id); !s.ok()) {
    spdlog::warn("flash sale: marking grant {} persisted failed: {}", grant_id, s.ToString());
  }
}

void RedisFlashSaleStore::MarkPersistedAsync(const std::string& sku_id, const std::string& order_id,
                                             const std::string& grant_id) {
  if (pipeline_ == nullptr) return FlashSaleStore::MarkPersistedAsync(sku_id, order_id, grant_id);
  static const std::string kSha = redis::ScriptSha1(kMarkPersistedLua);
  auto keys = Keys(sku_id);
  pipeline_->Submit({"EVALSHA", kSha, "2", keys[2], keys[3], order_id, grant_id},
                    [this, sku_id, order_id, grant_id](absl::StatusOr<redis::Reply> r) {
                      if (r.status().code() == absl::StatusCode::kNotFound) {
                        FlashSaleStore::MarkPersistedAsync(sku_id, order_id, grant_id);
                      } else if (!r.ok()) {
                        spdlog::warn("flash sale: marking grant {} persisted failed: {}", grant_id,
                                     r.status().ToString());
                      }
                    });
}

absl::Status RedisFlashSaleStore::Revoke(const std::string& sku_id, const std::string& order_id,
                                         const std::string& grant_id, int64_t epoch,
                                         int64_t quantity, RevokeMode mode) {
  auto reply = client_.Eval(
      kRevokeLua, Keys(sku_id),
      {order_id, grant_id, ModeName(mode), std::to_string(epoch), std::to_string(quantity)});
  return reply.ok() ? absl::OkStatus() : reply.status();
}

absl::Status RedisFlashSaleStore::Warm(const std::string& sku_id, int64_t epoch, int64_t units) {
  auto keys = Keys(sku_id);
  auto reply =
      client_.Eval(kWarmLua, {keys[0], keys[1]}, {std::to_string(epoch), std::to_string(units)});
  if (!reply.ok()) return reply.status();
  if (Elem(*reply, 0) != "OK") {
    return absl::AbortedError("flash sale of " + sku_id + " was warmed again meanwhile (epoch " +
                              Elem(*reply, 1) + ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PendingGrant>> RedisFlashSaleStore::PendingGrants(
    const std::string& sku_id, TimePoint before, int limit) {
  auto keys = Keys(sku_id);
  auto reply = client_.Command({"XRANGE", keys[3], "-", std::to_string(ToUnixMillis(before)),
                                "COUNT", std::to_string(limit)});
  if (!reply.ok()) return reply.status();
  std::vector<PendingGrant> out;
  for (const auto& entry : reply->elements) {
    if (entry.elements.size() < 2) continue;
    PendingGrant g;
    g.grant_id = entry.elements[0].str;
    const auto& fields = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& f = fields[i].str;
      const std::string& v = fields[i + 1].str;
      if (f == "o") g.order_id = v;
      if (f == "q") g.quantity = ToInt(v);
      if (f == "e") g.epoch = ToInt(v);
      if (f == "x") g.expires_at = FromUnixMillis(ToInt(v));
    }
    out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<ReconcileResult> RedisFlashSaleStore::Reconcile(
    const std::string& sku_id, int64_t epoch, int64_t pool_available,
    const std::vector<FlashOrderState>& orders, bool repair) {
  auto keys = Keys(sku_id);
  std::vector<std::string> args = {std::to_string(epoch), std::to_string(pool_available),
                                   repair ? "1" : "0"};
  args.reserve(2 + orders.size() * 3);
  for (const auto& o : orders) {
    args.push_back(o.order_id);
    args.push_back(std::to_string(o.quantity));
    args.push_back(o.live ? "1" : "0");
  }
  auto reply = client_.Eval(kReconcileLua, {keys[0], keys[1], keys[2]}, args);
  if (!reply.ok()) return reply.status();
  ReconcileResult r;
  if (Elem(*reply, 0) == "NEWER") {
    r.skipped = true;
    return r;
  }
  r.counter_before = ToInt(Elem(*reply, 1));
  r.expected = ToInt(Elem(*reply, 2));
  r.pending = ToInt(Elem(*reply, 3));
  r.backfilled = ToInt(Elem(*reply, 4));
  r.rewarmed = Elem(*reply, 5) == "1";
  return r;
}

}  // namespace orderly::inventory
