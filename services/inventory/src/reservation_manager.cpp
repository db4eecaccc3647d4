#include "reservation_manager.hpp"

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "inventory_events.hpp"
#include "inventory_metrics.hpp"
#include "inventory_proto.hpp"
#include "orderly/core/status.hpp"
#include "reservation_rules.hpp"

namespace orderly::inventory {
namespace {

std::string OutcomeOf(const absl::Status& s) {
  if (s.ok()) return "reserved";
  const std::string reason = ErrorReason(s);
  if (reason == "INSUFFICIENT_STOCK") return "insufficient";
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists: return "refused";
    default: return "error";
  }
}

Reservation NewReservation(const ReserveCommand& cmd, TimePoint now_exact,
                           const PaymentWindows& w) {
  // The database keeps milliseconds: a replay must answer with exactly what the first call did.
  const TimePoint now = FromUnixMillis(ToUnixMillis(now_exact));
  Reservation r;
  r.order_id = cmd.order_id;
  r.state = ReservationState::kReserved;
  r.order_type = cmd.order_type == common::v1::ORDER_TYPE_UNSPECIFIED
                     ? common::v1::ORDER_TYPE_NORMAL
                     : cmd.order_type;
  r.fingerprint = Fingerprint(cmd);
  r.expires_at = FromUnixMillis(ToUnixMillis(ExpiryOf(cmd, now, w)));
  r.created_at = r.updated_at = now;
  return r;
}

// Lines in sku_id order: every transaction locks bucket rows in the same order.
std::vector<ReserveItem> SortedItems(const ReserveCommand& cmd) {
  std::vector<ReserveItem> items = cmd.items;
  std::sort(items.begin(), items.end(),
            [](const ReserveItem& a, const ReserveItem& b) { return a.sku_id < b.sku_id; });
  return items;
}

}  // namespace

ReservationManager::ReservationManager(StockRepository& repo, FlashSaleStore* flash, ClockPtr clock,
                                       ReservationManagerOptions options)
    : repo_(repo),
      flash_(flash),
      clock_(std::move(clock)),
      options_(options),
      redis_breaker_("inventory-redis", RedisBreakerOptions(options.redis_breaker_open), clock_) {}

ReservationManager::~ReservationManager() {
  {
    std::lock_guard lock(grants_mu_);
    grants_stop_ = true;
  }
  grants_cv_.notify_all();
  for (auto& t : grants_threads_) t.join();
}

void ReservationManager::EnqueueGrant(QueuedGrant g) {
  // Two persisters: one batch's inserts run while the other's commit is flushed (they meet only
  // at the pool row's UPDATE, taken last). One left the machine ~30 % idle in a sell-out; a third
  // measured no better than two.
  std::call_once(grants_started_, [this] {
    constexpr int kGrantPersisters = 2;
    for (int i = 0; i < kGrantPersisters; ++i) {
      grants_threads_.emplace_back([this] { GrantPersistLoop(); });
    }
  });
  {
    std::lock_guard lock(grants_mu_);
    grants_.push_back(std::move(g));
  }
  grants_cv_.notify_one();
}

void ReservationManager::GrantPersistLoop() {
  constexpr size_t kMaxBatch = 256;
  while (true) {
    std::vector<QueuedGrant> batch;
    {
      std::unique_lock lock(grants_mu_);
      grants_cv_.wait(lock, [&] { return grants_stop_ || !grants_.empty(); });
      if (grants_.empty()) return;  // stopping, nothing left
      while (!grants_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(grants_.front()));
        grants_.pop_front();
      }
    }
    std::vector<StockRepository::GrantToPersist> items;
    items.reserve(batch.size());
    for (const auto& q : batch) {
      StockRepository::GrantToPersist g;
      Reservation& r = g.reservation;
      r = NewReservation(q.cmd, clock_->Now(), options_.windows);
      r.path = DecisionPath::kRedis;
      r.grant_id = q.grant_id;
      ReservationLine line;
      line.sku_id = q.cmd.items.front().sku_id;
      line.quantity = q.cmd.items.front().quantity;
      line.policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
      line.allocations = {{kFlashBucket, line.quantity}};
      r.lines.push_back(std::move(line));
      g.event = StockReservedEvent(r);
      g.epoch = q.sku.flash_epoch;
      items.push_back(std::move(g));
    }
    auto persisted = repo_.PersistFlashGrantsInOneStatement(items);
    if (!persisted.ok()) {
      spdlog::warn("flash sale: persisting a batch of {} grants failed ({}); one by one",
                   batch.size(), persisted.status().ToString());
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      QueuedGrant& q = batch[i];
      if (persisted.ok() && (*persisted)[i]) {
        flash_->MarkPersistedAsync(q.cmd.items.front().sku_id, q.cmd.order_id, q.grant_id);
        metrics::CountReserve("redis", "reserved");
        q.done(std::move(items[i].reservation));
        continue;
      }
      q.submit([this, q = std::move(q)] {
        auto r = PersistFlashGrant(q.cmd, q.sku, q.sku.flash_epoch, q.grant_id);
        metrics::CountReserve("redis", OutcomeOf(r.status()));
        q.done(std::move(r));
      });
    }
  }
}

// ---- Reserve -------------------------------------------------------------------------------

absl::StatusOr<Reservation> ReservationManager::Reserve(const ReserveCommand& cmd_in) {
  ReserveCommand cmd = cmd_in;
  if (cmd.order_type == common::v1::ORDER_TYPE_UNSPECIFIED) {
    cmd.order_type = common::v1::ORDER_TYPE_NORMAL;
  }
  if (auto s = ValidateReserve(cmd, clock_->Now(), options_.windows); !s.ok()) {
    metrics::CountReserve("db", "refused");
    return s;
  }
  if (cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE && flash_ != nullptr) {
    return ReserveFlash(cmd);
  }
  auto r = ReserveInDb(cmd, "db");
  metrics::CountReserve("db", OutcomeOf(r.status()));
  return r;
}

absl::StatusOr<Reservation> ReservationManager::ReserveInDb(const ReserveCommand& cmd,
                                                            const std::string& path,
                                                            bool sold_out_checked) {
  (void)path;
  if (auto r = ReserveInOneStatement(cmd, sold_out_checked)) return *std::move(r);
  return ReserveInTransaction(cmd);
}

bool ReservationManager::SoldOutHint(const std::string& sku_id) const {
  std::shared_lock lock(sold_out_mu_);
  return sold_out_.count(sku_id) > 0;
}

void ReservationManager::SetSoldOutHint(const std::string& sku_id, bool sold_out) {
  if (SoldOutHint(sku_id) == sold_out) return;
  std::unique_lock lock(sold_out_mu_);
  if (sold_out) {
    sold_out_.insert(sku_id);
  } else {
    sold_out_.erase(sku_id);
  }
}

DeductionPolicy ReservationManager::PolicyHint(const std::string& sku_id) const {
  std::shared_lock lock(cache_mu_);
  auto it = policy_hints_.find(sku_id);
  return it == policy_hints_.end() ? v1::DEDUCTION_POLICY_RESERVE_AT_ORDER : it->second;
}

void ReservationManager::LearnPolicy(const std::string& sku_id, DeductionPolicy policy) {
  std::unique_lock lock(cache_mu_);
  // Only the exceptions are kept: the map stays as small as the deduct-at-payment catalog.
  if (policy == v1::DEDUCTION_POLICY_RESERVE_AT_ORDER) {
    policy_hints_.erase(sku_id);
  } else {
    policy_hints_[sku_id] = policy;
  }
}

std::optional<absl::StatusOr<Reservation>> ReservationManager::ReserveInOneStatement(
    const ReserveCommand& cmd, bool sold_out_checked) {
  using Kind = StockRepository::OneStatementOutcome::Kind;
  const bool flash_order = cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE;
  // The StockReserved event is built before the statement, so it needs each line's deduction
  // policy in advance: remembered per SKU (default reserve-at-order) and checked by the statement,
  // which answers kPolicy with the catalog's when they differ.
  std::vector<DeductionPolicy> policies;
  for (const auto& it : cmd.items) {
    policies.push_back(flash_order ? v1::DEDUCTION_POLICY_RESERVE_AT_ORDER : PolicyHint(it.sku_id));
  }
  // A SKU that was sold out a moment ago is asked the cheap question first. The answer is the
  // database's, now: the hint only picks which statement to send, it never refuses by itself.
  const bool one_line = cmd.items.size() == 1;
  if (one_line && !sold_out_checked && SoldOutHint(cmd.items.front().sku_id)) {
    const ReserveItem& item = cmd.items.front();
    auto short_of = repo_.ShortOfStock({{&cmd, policies.front()}});
    if (short_of.ok() && short_of->front().has_value()) {
      metrics::CountSoldOutCheck("refused");
      return absl::StatusOr<Reservation>(
          InsufficientStock(item.sku_id, item.quantity, *short_of->front()));
    }
    // A replay, a tombstone, a catalog change or stock back: inventory_reserve decides (and
    // clears the hint once the SKU is not sold out).
    metrics::CountSoldOutCheck(short_of.ok() ? "passed" : "error");
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    const TimePoint now = clock_->Now();
    Reservation r = NewReservation(cmd, now, options_.windows);
    std::map<std::string, DeductionPolicy> policy_of;
    for (size_t i = 0; i < cmd.items.size(); ++i) policy_of[cmd.items[i].sku_id] = policies[i];
    for (const auto& [sku_id, policy] : policy_of) {
      ReservationLine line;
      line.sku_id = sku_id;
      for (const auto& it : cmd.items) {
        if (it.sku_id == sku_id) line.quantity = it.quantity;
      }
      line.policy = policy;
      r.lines.push_back(std::move(line));
    }
    auto ev = StockReservedEvent(r);

    auto out = repo_.ReserveInOneStatement({.cmd = &cmd,
                                            .fingerprint = r.fingerprint,
                                            .expires_at = r.expires_at,
                                            .now = r.created_at,
                                            .policies = policies,
                                            .event = &ev});
    if (!out.ok()) {
      // Deadlock / serialization failure: nothing was written, run the statement again.
      if (out.status().code() == absl::StatusCode::kAborted) {
        metrics::CountReserveRetry("aborted");
        continue;
      }
      return absl::StatusOr<Reservation>(out.status());
    }
    switch (out->kind) {
      case Kind::kReserved:
        if (one_line) SetSoldOutHint(cmd.items.front().sku_id, false);
        for (auto& l : r.lines) {
          auto a = out->allocations.find(l.sku_id);
          if (a != out->allocations.end()) l.allocations = a->second;
        }
        return absl::StatusOr<Reservation>(std::move(r));
      case Kind::kExists: {
        auto existing = repo_.GetReservation(cmd.order_id);
        if (!existing.ok()) return absl::StatusOr<Reservation>(existing.status());
        if (!*existing) continue;
        if (auto o = ReserveRetryOutcome(**existing, r.fingerprint, clock_->Now()); !o.ok()) {
          return absl::StatusOr<Reservation>(o);
        }
        return absl::StatusOr<Reservation>(**existing);
      }
      case Kind::kCatalog: {
        // Rare: read the catalog to word the refusal exactly (request order, every rule).
        std::vector<std::string> ids;
        for (const auto& it : cmd.items) ids.push_back(it.sku_id);
        auto found = repo_.GetSkus(ids);
        if (!found.ok()) return absl::StatusOr<Reservation>(found.status());
        std::map<std::string, SkuRecord> skus;
        for (auto& sku : *found) skus.emplace(sku.sku_id, std::move(sku));
        if (auto c = CheckAgainstCatalog(cmd, skus); !c.ok()) return absl::StatusOr<Reservation>(c);
        continue;  // the catalog changed in between: decide again
      }
      case Kind::kPolicy:
        if (out->policies.size() != cmd.items.size()) {
          return absl::StatusOr<Reservation>(absl::InternalError("policy list length differs"));
        }
        policies = out->policies;
        for (size_t i = 0; i < cmd.items.size(); ++i) LearnPolicy(cmd.items[i].sku_id, policies[i]);
        continue;
      case Kind::kInsufficient:
        if (one_line) SetSoldOutHint(out->sku_id, out->available <= 0);
        return absl::StatusOr<Reservation>(
            InsufficientStock(out->sku_id, out->requested, out->available));
      case Kind::kSlowPath: return std::nullopt;
    }
  }
  return std::nullopt;  // kept racing: the transaction path decides
}

// The multi-statement path: for what the single statement hands back (a low-stock crossing,
// whose StockLow event is built here).
absl::StatusOr<Reservation> ReservationManager::ReserveInTransaction(const ReserveCommand& cmd) {
  Reservation result;
  const std::vector<ReserveItem> items = SortedItems(cmd);
  std::vector<std::string> ids;
  for (const auto& it : items) ids.push_back(it.sku_id);

  auto s = repo_.InTransaction([&](StockTx& tx) -> absl::Status {
    const TimePoint now = clock_->Now();
    Reservation r = NewReservation(cmd, now, options_.windows);
    auto existing = tx.FindReservation(cmd.order_id, false);
    if (!existing.ok()) return existing.status();
    if (*existing) {
      if (auto o = ReserveRetryOutcome(**existing, r.fingerprint, now); !o.ok()) return o;
      result = **existing;
      return absl::OkStatus();
    }
    auto found = tx.FindSkus(ids, false);
    if (!found.ok()) return found.status();
    std::map<std::string, SkuRecord> skus;
    for (auto& sku : *found) skus.emplace(sku.sku_id, std::move(sku));
    if (auto c = CheckAgainstCatalog(cmd, skus); !c.ok()) return c;

    for (const auto& it : items) {
      const SkuRecord& sku = skus.at(it.sku_id);
      ReservationLine line;
      line.sku_id = it.sku_id;
      line.quantity = it.quantity;
      line.policy = sku.flash_sale ? v1::DEDUCTION_POLICY_RESERVE_AT_ORDER : sku.deduction_policy;
      // A lock-free look first: a sold-out SKU is refused without queueing on a row lock.
      auto available = tx.AvailableOf(it.sku_id);
      if (!available.ok()) return available.status();
      if (*available < it.quantity) return InsufficientStock(it.sku_id, it.quantity, *available);
      if (line.policy == v1::DEDUCTION_POLICY_RESERVE_AT_ORDER) {
        auto taken = tx.TakeAvailable(it.sku_id, BucketOrder(cmd.order_id, sku), it.quantity,
                                      TakeInto::kReserved);
        if (!taken.ok()) return taken.status();
        if (taken->empty()) {
          auto now_available = tx.AvailableOf(it.sku_id);
          return InsufficientStock(it.sku_id, it.quantity, now_available.ok() ? *now_available : 0);
        }
        line.allocations = *std::move(taken);
      }
      r.lines.push_back(std::move(line));
    }
    auto inserted = tx.InsertReservation(r);
    if (!inserted.ok()) return inserted.status();
    // A concurrent Reserve or Release of the same order won: retry and answer from its row.
    if (!*inserted) return absl::AbortedError("reservation of " + cmd.order_id + " raced");

    auto ev = StockReservedEvent(r);
    if (auto e = tx.AppendEvent(ev); !e.ok()) return e;
    for (const auto& l : r.lines) {
      if (l.policy != v1::DEDUCTION_POLICY_RESERVE_AT_ORDER) continue;
      if (auto e = MaybeLowStock(tx, skus.at(l.sku_id)); !e.ok()) return e;
    }
    result = std::move(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

BreakerOptions ReservationManager::RedisBreakerOptions(std::chrono::milliseconds open_for) {
  // One Redis failure sends the flash path to the database for open_for; then one call probes.
  BreakerOptions o;
  o.failure_rate = 0;
  o.min_calls = 1;
  o.open_for = open_for;
  o.probes = 1;
  return o;
}

absl::StatusOr<SkuRecord> ReservationManager::CachedSku(const std::string& sku_id) {
  const TimePoint now = clock_->Now();
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(sku_id);
    if (it != cache_.end() && now - it->second.loaded < options_.sku_cache_ttl) {
      return it->second.sku;
    }
  }
  auto skus = repo_.GetSkus({sku_id});
  if (!skus.ok()) return skus.status();
  if (skus->empty()) return SkuNotFound(sku_id);
  std::unique_lock lock(cache_mu_);
  cache_[sku_id] = {skus->front(), now};
  return skus->front();
}

void ReservationManager::InvalidateSku(const std::string& sku_id) {
  std::unique_lock lock(cache_mu_);
  cache_.erase(sku_id);
}

bool ReservationManager::FreshCachedSku(const std::string& sku_id, SkuRecord* out) const {
  std::shared_lock lock(cache_mu_);
  auto it = cache_.find(sku_id);
  if (it == cache_.end() || clock_->Now() - it->second.loaded >= options_.sku_cache_ttl) {
    return false;
  }
  *out = it->second.sku;
  return true;
}

std::optional<absl::StatusOr<Reservation>> ReservationManager::CheckFlashCatalog(
    const ReserveCommand& cmd, const SkuRecord& sku) {
  std::map<std::string, SkuRecord> skus{{sku.sku_id, sku}};
  if (auto c = CheckAgainstCatalog(cmd, skus); !c.ok()) {
    // The cache may be behind a WarmFlashSale or UpsertSku: decide on fresh data.
    InvalidateSku(sku.sku_id);
    metrics::CountReserve("redis", OutcomeOf(c));
    return absl::StatusOr<Reservation>(c);
  }
  return std::nullopt;
}

absl::StatusOr<Reservation> ReservationManager::FlashFallback(const ReserveCommand& cmd,
                                                              const char* reason) {
  metrics::CountRedisFallback(reason);
  auto r = ReserveInDb(cmd, "db_fallback");
  metrics::CountReserve("db_fallback", OutcomeOf(r.status()));
  return r;
}

absl::StatusOr<Reservation> ReservationManager::ReserveFlash(const ReserveCommand& cmd) {
  const ReserveItem& item = cmd.items.front();
  auto sku = CachedSku(item.sku_id);
  if (!sku.ok()) {
    metrics::CountReserve("redis", OutcomeOf(sku.status()));
    return sku.status();
  }
  if (auto refused = CheckFlashCatalog(cmd, *sku)) return *std::move(refused);
  if (!redis_breaker_.Allow().ok()) return FlashFallback(cmd, "breaker_open");
  const TimePoint expires_at = ExpiryOf(cmd, clock_->Now(), options_.windows);
  auto grant =
      flash_->TryReserve(item.sku_id, sku->flash_epoch, cmd.order_id, item.quantity, expires_at);
  redis_breaker_.Record(grant.ok());
  return AfterFlashDecision(cmd, *sku, expires_at, grant);
}

void ReservationManager::ReserveAsync(const ReserveCommand& cmd_in, const Submit& submit,
                                      ReserveCallback done) {
  ReserveCommand cmd = cmd_in;
  if (cmd.order_type == common::v1::ORDER_TYPE_UNSPECIFIED) {
    cmd.order_type = common::v1::ORDER_TYPE_NORMAL;
  }
  SkuRecord sku;
  // Only the Redis path with its SKU in the cache and a closed breaker stays off the pool: the
  // Lua decision comes back on the pipeline thread, and a sold-out refusal is answered there.
  const bool redis_path = cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE &&
                          flash_ != nullptr && cmd.items.size() == 1 &&
                          FreshCachedSku(cmd.items.front().sku_id, &sku) &&
                          !redis_breaker_.IsOpen();
  if (!redis_path) {
    if (cmd.order_type != common::v1::ORDER_TYPE_FLASH_SALE && cmd.items.size() == 1 &&
        SoldOutHint(cmd.items.front().sku_id) &&
        ValidateReserve(cmd, clock_->Now(), options_.windows).ok()) {
      const DeductionPolicy policy = PolicyHint(cmd.items.front().sku_id);
      EnqueueSoldOutCheck({std::move(cmd), policy, submit, std::move(done)});
      return;
    }
    submit([this, cmd = std::move(cmd), done = std::move(done)] { done(Reserve(cmd)); });
    return;
  }
  if (auto s = ValidateReserve(cmd, clock_->Now(), options_.windows); !s.ok()) {
    metrics::CountReserve("db", "refused");
    done(s);
    return;
  }
  if (auto refused = CheckFlashCatalog(cmd, sku)) {
    done(*std::move(refused));
    return;
  }
  if (!redis_breaker_.Allow().ok()) {  // opened meanwhile, or another call holds the probe
    submit([this, cmd = std::move(cmd), done = std::move(done)] { done(Reserve(cmd)); });
    return;
  }
  // Copies: the callback below takes cmd and sku by move, and argument order is unspecified.
  const ReserveItem item = cmd.items.front();
  const std::string order_id = cmd.order_id;
  const int64_t epoch = sku.flash_epoch;
  const TimePoint expires_at = ExpiryOf(cmd, clock_->Now(), options_.windows);
  flash_->TryReserveAsync(
      item.sku_id, epoch, order_id, item.quantity, expires_at,
      [this, cmd = std::move(cmd), sku = std::move(sku), expires_at, submit,
       done = std::move(done)](absl::StatusOr<FlashGrant> grant) mutable {
        redis_breaker_.Record(grant.ok());
        if (grant.ok() && grant->kind == FlashGrant::Kind::kSoldOut) {
          done(AfterFlashDecision(cmd, sku, expires_at, grant));  // no I/O
          return;
        }
        if (grant.ok() && grant->kind == FlashGrant::Kind::kGranted) {
          cmd.expires_at = expires_at;
          EnqueueGrant({std::move(cmd), std::move(sku), grant->grant_id, submit, std::move(done)});
          return;
        }
        // Persisting a grant, replays and fallbacks use the database: not on this thread.
        submit([this, cmd = std::move(cmd), sku = std::move(sku), expires_at,
                grant = std::move(grant),
                done = std::move(done)] { done(AfterFlashDecision(cmd, sku, expires_at, grant)); });
      });
}

void ReservationManager::EnqueueSoldOutCheck(QueuedCheck c) {
  Submit submit = c.submit;
  bool start = false;
  {
    std::lock_guard lock(checks_mu_);
    checks_.push_back(std::move(c));
    start = !checks_running_;
    checks_running_ = true;
  }
  if (start) submit([this] { RunSoldOutChecks(); });
}

void ReservationManager::RunSoldOutChecks() {
  constexpr size_t kMaxBatch = 256;
  while (true) {
    std::vector<QueuedCheck> batch;
    {
      std::lock_guard lock(checks_mu_);
      if (checks_.empty()) {
        checks_running_ = false;
        return;
      }
      while (!checks_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(checks_.front()));
        checks_.pop_front();
      }
    }
    std::vector<StockRepository::ShortOfStockQuery> queries;
    queries.reserve(batch.size());
    for (const auto& q : batch) queries.push_back({&q.cmd, q.policy});
    auto short_of = repo_.ShortOfStock(queries);
    for (size_t i = 0; i < batch.size(); ++i) {
      QueuedCheck& q = batch[i];
      if (short_of.ok() && (*short_of)[i].has_value()) {
        const ReserveItem& item = q.cmd.items.front();
        metrics::CountSoldOutCheck("refused");
        metrics::CountReserve("db", "insufficient");
        q.done(InsufficientStock(item.sku_id, item.quantity, *(*short_of)[i]));
        continue;
      }
      // A replay, a tombstone, a catalog change, stock back, or the read failed:
      // inventory_reserve decides, on the pool like any other order.
      metrics::CountSoldOutCheck(short_of.ok() ? "passed" : "error");
      q.submit([this, cmd = std::move(q.cmd), done = std::move(q.done)] {
        auto r = ReserveInDb(cmd, "db", /*sold_out_checked=*/true);
        metrics::CountReserve("db", OutcomeOf(r.status()));
        done(std::move(r));
      });
    }
  }
}

absl::StatusOr<Reservation> ReservationManager::AfterFlashDecision(
    const ReserveCommand& cmd, const SkuRecord& sku_record, TimePoint expires_at,
    const absl::StatusOr<FlashGrant>& grant) {
  const ReserveItem& item = cmd.items.front();
  const SkuRecord* sku = &sku_record;
  auto fallback = [&](const char* reason) { return FlashFallback(cmd, reason); };
  if (!grant.ok()) {
    // The caller recorded the failure in the breaker.
    spdlog::warn("flash sale: Redis failed for sku {} ({}); deciding on the database", item.sku_id,
                 grant.status().ToString());
    return fallback("unavailable");
  }
  switch (grant->kind) {
    case FlashGrant::Kind::kNotWarm:
      // Redis lost the sale or holds another epoch; reconciliation loads it again.
      InvalidateSku(item.sku_id);
      return fallback("not_warm");
    case FlashGrant::Kind::kSoldOut:
      metrics::CountReserve("redis", "insufficient");
      return InsufficientStock(item.sku_id, item.quantity, grant->remaining);
    case FlashGrant::Kind::kDuplicate:
      if (grant->dup_state == 'r') {
        metrics::CountReserve("redis", "refused");
        return ReleasedError(cmd.order_id);
      }
      if (grant->dup_quantity != item.quantity) {
        metrics::CountReserve("redis", "refused");
        return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                             "order " + cmd.order_id + " already reserved different lines",
                             "REQUEST_FINGERPRINT_MISMATCH", {{"order_id", cmd.order_id}});
      }
      if (grant->dup_state == 'p') {
        // Persisted before: answer from the database, nothing was decremented this time.
        auto existing = repo_.GetReservation(cmd.order_id);
        if (!existing.ok()) return existing.status();
        if (!*existing) return fallback("not_warm");
        auto o = ReserveRetryOutcome(**existing, Fingerprint(cmd), clock_->Now());
        metrics::CountReserve("redis", o.ok() ? "replayed" : OutcomeOf(o));
        if (!o.ok()) return o;
        return **existing;
      }
      break;
    case FlashGrant::Kind::kGranted: break;
  }
  ReserveCommand persisted = cmd;
  persisted.expires_at = expires_at;
  auto r = PersistFlashGrant(persisted, *sku, sku->flash_epoch, grant->grant_id);
  metrics::CountReserve("redis", grant->kind == FlashGrant::Kind::kDuplicate && r.ok()
                                     ? "replayed"
                                     : OutcomeOf(r.status()));
  return r;
}

absl::StatusOr<Reservation> ReservationManager::PersistFlashGrant(const ReserveCommand& cmd,
                                                                  const SkuRecord& sku,
                                                                  int64_t epoch,
                                                                  const std::string& grant_id) {
  const ReserveItem& item = cmd.items.front();
  {
    // The common case in one statement; everything else (replays, other epochs, drift, low
    // stock) takes the transaction below, which decides it from scratch.
    Reservation r = NewReservation(cmd, clock_->Now(), options_.windows);
    r.path = DecisionPath::kRedis;
    r.grant_id = grant_id;
    ReservationLine line;
    line.sku_id = item.sku_id;
    line.quantity = item.quantity;
    line.policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
    line.allocations = {{kFlashBucket, item.quantity}};
    r.lines.push_back(std::move(line));
    auto ev = StockReservedEvent(r);
    auto done = repo_.PersistFlashGrantInOneStatement(r, epoch, ev);
    if (done.ok() && *done) {
      flash_->MarkPersistedAsync(item.sku_id, cmd.order_id, grant_id);
      return r;
    }
  }
  // What to tell Redis once the transaction is over (it must not run inside it: a rollback
  // would otherwise leave Redis ahead of the database).
  std::optional<RevokeMode> revoke;
  bool persisted = false;
  int64_t current_epoch = -1;  // set when the epoch moved on (the grant is fenced off)
  Reservation result;
  auto s = repo_.InTransaction([&](StockTx& tx) -> absl::Status {
    revoke.reset();
    persisted = false;
    const TimePoint now = clock_->Now();
    Reservation r = NewReservation(cmd, now, options_.windows);
    r.path = DecisionPath::kRedis;
    r.grant_id = grant_id;
    auto existing = tx.FindReservation(cmd.order_id, false);
    if (!existing.ok()) return existing.status();
    if (*existing) {
      const Reservation& e = **existing;
      // The same grant persisted before (a retry, or the drain after a crash): nothing to give
      // back. Any other grant for an order that already has its reservation is a duplicate.
      const bool same_grant = e.grant_id == grant_id;
      auto o = ReserveRetryOutcome(e, r.fingerprint, now);
      if (!same_grant) {
        revoke = (e.state == ReservationState::kTombstone || e.state == ReservationState::kReleased)
                     ? RevokeMode::kTombstone
                     : RevokeMode::kDuplicate;
      } else {
        persisted = true;
      }
      if (!o.ok()) return o;
      result = e;
      return absl::OkStatus();
    }
    // FOR SHARE on the SKU: WarmFlashSale cannot change the epoch until this commits.
    auto fresh = tx.FindSkus({item.sku_id}, true);
    if (!fresh.ok()) return fresh.status();
    if (fresh->empty()) return SkuNotFound(item.sku_id);
    if (fresh->front().flash_epoch != epoch) {
      revoke = RevokeMode::kDrop;
      current_epoch = fresh->front().flash_epoch;
      // Not ABORTED here: the pool would rerun the transaction, which cannot help.
      return absl::CancelledError("stale flash epoch");
    }
    ReservationLine line;
    line.sku_id = item.sku_id;
    line.quantity = item.quantity;
    line.policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
    line.allocations = {{kFlashBucket, item.quantity}};
    r.lines.push_back(std::move(line));
    auto inserted = tx.InsertReservation(r);
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) return absl::AbortedError("reservation of " + cmd.order_id + " raced");
    auto ev = StockReservedEvent(r);
    if (auto e = tx.AppendEvent(ev); !e.ok()) return e;
    // The pool row is the one every winner of the sale updates: touch it last, so its lock is
    // held only for this statement and the commit.
    auto taken = tx.TakeAvailable(item.sku_id, {kFlashBucket}, item.quantity, TakeInto::kReserved);
    if (!taken.ok()) return taken.status();
    if (taken->empty()) {
      // Redis admitted more than the pool holds (drift): the database refuses, all rolls back.
      revoke = RevokeMode::kDrop;
      auto available = tx.AvailableOf(item.sku_id);
      return InsufficientStock(item.sku_id, item.quantity, available.ok() ? *available : 0);
    }
    if (auto e = MaybeLowStock(tx, fresh->front()); !e.ok()) return e;
    persisted = true;
    result = std::move(r);
    return absl::OkStatus();
  });
  // Redis follow-ups are best effort: reconciliation repairs whatever they miss.
  if (revoke) {
    static const char* kNames[] = {"drop", "restock", "tombstone", "duplicate"};
    metrics::CountRevoked(kNames[static_cast<int>(*revoke)]);
    if (auto rs =
            flash_->Revoke(item.sku_id, cmd.order_id, grant_id, epoch, item.quantity, *revoke);
        !rs.ok()) {
      spdlog::warn("flash sale: revoking grant {} of order {} failed: {}", grant_id, cmd.order_id,
                   rs.ToString());
    }
  } else if (persisted && s.ok()) {
    if (auto ms = flash_->MarkPersisted(item.sku_id, cmd.order_id, grant_id); !ms.ok()) {
      spdlog::warn("flash sale: marking grant {} persisted failed: {}", grant_id, ms.ToString());
    }
  }
  if (current_epoch >= 0) {
    InvalidateSku(item.sku_id);
    return ErrorWithInfo(absl::StatusCode::kAborted,
                         "flash sale of " + item.sku_id + " was warmed again; retry",
                         "STALE_VERSION", {{"current_version", std::to_string(current_epoch)}});
  }
  if (!s.ok()) return s;
  return result;
}

absl::Status ReservationManager::MaybeLowStock(StockTx& tx, const SkuRecord& sku) {
  if (sku.low_stock_threshold <= 0) return absl::OkStatus();
  auto available = tx.AvailableOf(sku.sku_id);
  if (!available.ok()) return available.status();
  const bool low = *available < sku.low_stock_threshold;
  auto flipped = tx.FlipLowStockLatch(sku.sku_id, low);
  if (!flipped.ok()) return flipped.status();
  if (!low || !*flipped) return absl::OkStatus();
  auto ev = StockLowEvent(sku, *available, clock_->Now());
  return tx.AppendEvent(ev);
}

// ---- Confirm -------------------------------------------------------------------------------

absl::Status ReservationManager::ConfirmInTx(StockTx& tx, const std::string& order_id,
                                             Outcome* out) {
  out->status = absl::OkStatus();
  auto found = tx.FindReservation(order_id, true);
  if (!found.ok()) return found.status();
  if (!*found) return ReservationNotFound(order_id);
  Reservation r = **found;
  auto action = DecideConfirm(r, clock_->Now());
  if (!action.ok()) return action.status();
  switch (*action) {
    case ConfirmAction::kReturnExisting: out->reservation = r; return absl::OkStatus();
    case ConfirmAction::kExpire:
      // Paid after the window: expire now (its stock returns) and tell payment to refund.
      if (auto s = ExpireInTx(tx, r); !s.ok()) return s;
      out->reservation = r;
      out->status = ExpiredError(order_id);
      return absl::OkStatus();
    case ConfirmAction::kConfirm: break;
  }
  std::vector<std::string> ids;
  for (const auto& l : r.lines) ids.push_back(l.sku_id);
  std::map<std::string, SkuRecord> skus;
  for (const auto& l : r.lines) {
    if (l.policy == v1::DEDUCTION_POLICY_RESERVE_AT_ORDER) {
      if (auto s = tx.SellReserved(l.sku_id, l.allocations); !s.ok()) return s;
      continue;
    }
    if (skus.empty()) {
      auto found_skus = tx.FindSkus(ids, false);
      if (!found_skus.ok()) return found_skus.status();
      for (auto& sku : *found_skus) skus.emplace(sku.sku_id, std::move(sku));
    }
    const SkuRecord& sku = skus.at(l.sku_id);
    // Deduct at payment: the check at order time was advisory; this conditional update is the
    // real one and may fail, which refunds the payment.
    auto taken =
        tx.TakeAvailable(l.sku_id, BucketOrder(order_id, sku), l.quantity, TakeInto::kSold);
    if (!taken.ok()) return taken.status();
    if (taken->empty()) {
      auto available = tx.AvailableOf(l.sku_id);
      return InsufficientStock(l.sku_id, l.quantity, available.ok() ? *available : 0);
    }
    for (auto& line : r.lines) {
      if (line.sku_id == l.sku_id) line.allocations = *taken;
    }
  }
  for (auto& l : r.lines) {
    l.state = l.policy == v1::DEDUCTION_POLICY_RESERVE_AT_ORDER ? LineState::kConfirmed
                                                                : LineState::kDeducted;
  }
  r.state = ReservationState::kConfirmed;
  r.updated_at = clock_->Now();
  ++r.version;
  if (auto s = tx.UpdateReservation(r); !s.ok()) return s;
  auto ev = StockDeductedEvent(r);
  if (auto s = tx.AppendEvent(ev); !s.ok()) return s;
  for (const auto& [id, sku] : skus) {
    if (auto s = MaybeLowStock(tx, sku); !s.ok()) return s;
  }
  out->reservation = std::move(r);
  return absl::OkStatus();
}

absl::Status ReservationManager::ReacquireInTx(StockTx& tx, const std::string& order_id,
                                               Outcome* out) {
  out->status = absl::OkStatus();
  auto refused = tx.FindConfirmRefusal(order_id);
  if (!refused.ok()) return refused.status();
  // A refused order is being refunded: stock that came back since must not be sold to it.
  if (*refused) return ReleasedError(order_id);
  auto found = tx.FindReservation(order_id, true);
  if (!found.ok()) return found.status();
  if (!*found) return ReservationNotFound(order_id);
  Reservation r = **found;
  if (r.state == ReservationState::kConfirmed) {
    out->reservation = std::move(r);
    return absl::OkStatus();
  }
  if (r.state != ReservationState::kReleased && r.state != ReservationState::kExpired) {
    return ReleasedError(order_id);  // a tombstone has no lines to take again
  }
  std::vector<std::string> ids;
  for (const auto& l : r.lines) ids.push_back(l.sku_id);
  auto found_skus = tx.FindSkus(ids, false);
  if (!found_skus.ok()) return found_skus.status();
  std::map<std::string, SkuRecord> skus;
  for (auto& sku : *found_skus) skus.emplace(sku.sku_id, std::move(sku));
  for (auto& l : r.lines) {
    auto sku = skus.find(l.sku_id);
    if (sku == skus.end()) return InsufficientStock(l.sku_id, l.quantity, 0);
    auto taken =
        tx.TakeAvailable(l.sku_id, BucketOrder(order_id, sku->second), l.quantity, TakeInto::kSold);
    if (!taken.ok()) return taken.status();
    if (taken->empty()) {
      auto available = tx.AvailableOf(l.sku_id);
      return InsufficientStock(l.sku_id, l.quantity, available.ok() ? *available : 0);
    }
    l.allocations = std::move(*taken);
    l.state = LineState::kDeducted;
  }
  r.state = ReservationState::kConfirmed;
  r.updated_at = clock_->Now();
  ++r.version;
  if (auto s = tx.DropAllocations(order_id); !s.ok()) return s;
  if (auto s = tx.UpdateReservation(r); !s.ok()) return s;
  auto ev = StockDeductedEvent(r, /*reacquired=*/true);
  if (auto s = tx.AppendEvent(ev); !s.ok()) return s;
  for (const auto& [id, sku] : skus) {
    if (auto s = MaybeLowStock(tx, sku); !s.ok()) return s;
  }
  out->reservation = std::move(r);
  return absl::OkStatus();
}

absl::Status ReservationManager::ReturnUnpaidInTx(StockTx& tx, const std::string& order_id,
                                                  ReleaseReason reason, bool* returned) {
  *returned = false;
  auto found = tx.FindReservation(order_id, true);
  if (!found.ok()) return found.status();
  if (!*found || (*found)->state != ReservationState::kConfirmed) return absl::OkStatus();
  Reservation r = **found;
  r.state = ReservationState::kReleased;
  r.release_reason = reason;
  if (auto s = ReleaseLines(tx, r, LineState::kReleased); !s.ok()) return s;
  *returned = true;
  return absl::OkStatus();
}

absl::Status ReservationManager::RefuseConfirmInTx(StockTx& tx, const std::string& order_id,
                                                   const std::string& paid_order_id,
                                                   const absl::Status& refusal, bool* emitted) {
  *emitted = false;
  std::string reason = ErrorReason(refusal);
  if (reason.empty()) reason = "RESERVATION_RELEASED";
  auto first = tx.RecordConfirmRefusal(order_id, reason);
  if (!first.ok()) return first.status();
  if (!*first) return absl::OkStatus();  // refused (and announced) before
  auto found = tx.FindReservation(order_id, true);
  if (!found.ok()) return found.status();
  Reservation r;
  if (*found) {
    r = **found;
    if (r.state == ReservationState::kReserved) {
      r.state = ReservationState::kReleased;
      r.release_reason = v1::RELEASE_REASON_ORDER_CANCELLED;
      if (auto s = ReleaseLines(tx, r, LineState::kReleased); !s.ok()) return s;
    }
  } else {
    // No reservation at all: a tombstone keeps a late Reserve of this order from holding stock.
    Reservation t;
    t.order_id = order_id;
    t.state = ReservationState::kTombstone;
    t.order_type = common::v1::ORDER_TYPE_UNSPECIFIED;
    t.release_reason = v1::RELEASE_REASON_ORDER_CANCELLED;
    t.created_at = t.updated_at = t.expires_at = clock_->Now();
    auto inserted = tx.InsertReservation(t);
    if (!inserted.ok()) return inserted.status();
  }
  StockRefusal what{
      .paid_order_id = paid_order_id, .reason = reason, .sku_id = ErrorMetadata(refusal, "sku_id")};
  (void)absl::SimpleAtoi(ErrorMetadata(refusal, "requested"), &what.requested);
  (void)absl::SimpleAtoi(ErrorMetadata(refusal, "available"), &what.available);
  auto ev = StockConfirmRefusedEvent(order_id, r, what, clock_->Now());
  if (auto s = tx.AppendEvent(ev); !s.ok()) return s;
  *emitted = true;
  return absl::OkStatus();
}

absl::StatusOr<Reservation> ReservationManager::Confirm(const std::string& order_id) {
  if (order_id.empty())
    return InvalidArgumentError("invalid Confirm request", {{"order_id", "required"}});
  Outcome out;
  auto s = repo_.InTransaction([&](StockTx& tx) { return ConfirmInTx(tx, order_id, &out); });
  const absl::Status& final_status = s.ok() ? out.status : s;
  metrics::CountConfirm(final_status.ok() ? "confirmed" : OutcomeOf(final_status));
  if (!final_status.ok()) return final_status;
  return out.reservation;
}

// ---- Release / expiry ----------------------------------------------------------------------

absl::Status ReservationManager::ReleaseLines(StockTx& tx, Reservation& r, LineState to) {
  std::vector<std::string> ids;
  for (auto& l : r.lines) {
    ids.push_back(l.sku_id);
    if (l.policy == v1::DEDUCTION_POLICY_RESERVE_AT_ORDER && l.state == LineState::kReserved) {
      if (auto s = tx.ReturnReserved(l.sku_id, l.allocations); !s.ok()) return s;
    } else if (l.state == LineState::kConfirmed || l.state == LineState::kDeducted) {
      if (auto s = tx.ReturnSold(l.sku_id, l.allocations); !s.ok()) return s;
    }
    l.state = to;
  }
  r.updated_at = clock_->Now();
  ++r.version;
  if (auto s = tx.UpdateReservation(r); !s.ok()) return s;
  auto ev = StockReleasedEvent(r);
  if (auto s = tx.AppendEvent(ev); !s.ok()) return s;
  // Stock came back: re-arm low-stock alerts that are no longer low.
  auto skus = tx.FindSkus(ids, false);
  if (!skus.ok()) return skus.status();
  for (const auto& sku : *skus) {
    if (auto s = MaybeLowStock(tx, sku); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ReservationManager::ExpireInTx(StockTx& tx, Reservation& r) {
  r.state = ReservationState::kExpired;
  r.release_reason = v1::RELEASE_REASON_PAYMENT_TIMEOUT;
  return ReleaseLines(tx, r, LineState::kExpired);
}

absl::Status ReservationManager::ReleaseInTx(StockTx& tx, const std::string& order_id,
                                             ReleaseReason reason, Outcome* out) {
  out->status = absl::OkStatus();
  auto found = tx.FindReservation(order_id, true);
  if (!found.ok()) return found.status();
  if (!*found) {
    // Release before Reserve (reordered or lost Reserve): a tombstone makes the late Reserve
    // fail instead of holding stock for a cancelled order.
    Reservation t;
    t.order_id = order_id;
    t.state = ReservationState::kTombstone;
    t.order_type = common::v1::ORDER_TYPE_UNSPECIFIED;
    t.release_reason = reason;
    t.created_at = t.updated_at = t.expires_at = clock_->Now();
    auto inserted = tx.InsertReservation(t);
    if (!inserted.ok()) return inserted.status();
    if (!*inserted) return absl::AbortedError("release of " + order_id + " raced");
    auto ev = StockReleasedEvent(t);
    if (auto s = tx.AppendEvent(ev); !s.ok()) return s;
    out->reservation = std::move(t);
    return absl::OkStatus();
  }
  Reservation r = **found;
  auto action = DecideRelease(r);
  if (!action.ok()) return action.status();
  if (*action == ReleaseAction::kReturnExisting) {
    out->reservation = std::move(r);
    return absl::OkStatus();
  }
  r.state = ReservationState::kReleased;
  r.release_reason = reason;
  if (auto s = ReleaseLines(tx, r, LineState::kReleased); !s.ok()) return s;
  out->reservation = std::move(r);
  return absl::OkStatus();
}

absl::StatusOr<Reservation> ReservationManager::Release(const std::string& order_id,
                                                        ReleaseReason reason) {
  Violations v;
  if (order_id.empty()) v.Add("order_id", "required");
  if (!v1::ReleaseReason_IsValid(reason)) v.Add("reason", "unknown release reason");
  if (!v.empty()) return v.ToStatus("invalid Release request");
  if (reason == v1::RELEASE_REASON_UNSPECIFIED) reason = v1::RELEASE_REASON_ORDER_CANCELLED;
  Outcome out;
  auto s =
      repo_.InTransaction([&](StockTx& tx) { return ReleaseInTx(tx, order_id, reason, &out); });
  const absl::Status& final_status = s.ok() ? out.status : s;
  metrics::CountRelease(final_status.ok() ? "released" : OutcomeOf(final_status));
  if (!final_status.ok()) return final_status;
  return out.reservation;
}

absl::StatusOr<Reservation> ReservationManager::Get(const std::string& order_id) {
  if (order_id.empty()) {
    return InvalidArgumentError("invalid GetReservation request", {{"order_id", "required"}});
  }
  auto r = repo_.GetReservation(order_id);
  if (!r.ok()) return r.status();
  if (!*r) return ReservationNotFound(order_id);
  return **r;
}

absl::StatusOr<int> ReservationManager::ExpireDue(int limit) {
  int released = 0;
  auto s = repo_.InTransaction([&](StockTx& tx) -> absl::Status {
    released = 0;
    auto ids = tx.LockExpired(clock_->Now(), limit);
    if (!ids.ok()) return ids.status();
    for (const auto& id : *ids) {
      auto found = tx.FindReservation(id, true);
      if (!found.ok()) return found.status();
      if (!*found || (*found)->state != ReservationState::kReserved) continue;
      Reservation r = **found;
      if (auto e = ExpireInTx(tx, r); !e.ok()) return e;
      ++released;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  metrics::CountSweeperReleased(released);
  return released;
}

}  // namespace orderly::inventory
