#pragma once
// The flash-sale admission counter in Redis. One Lua script per decision makes check, decrement,
// per-order idempotency record and the append to the grant stream a single atomic step:
//
//   fs:{sku}:stock   units Redis may still grant
//   fs:{sku}:epoch   fencing token written by WarmFlashSale; a caller's epoch must match
//   fs:{sku}:resv    hash order_id -> "<state>:<qty>:<epoch>:<grant id>", state g = granted,
//                    p = persisted in PostgreSQL, r = released (a late retry is refused)
//   fs:{sku}:grants  stream of grants (o, q, e, x): the redo log a persister drains into
//                    PostgreSQL if the synchronous persist of a grant did not happen
//
// Redis only admits; PostgreSQL decides. A grant becomes a reservation only when its conditional
// update on the SKU's flash pool commits (with the epoch checked in the same transaction), so
// lost, stale or doubled Redis state can refuse sales but never oversell.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/redis/client.hpp"
#include "redis_pipeline.hpp"

namespace orderly::inventory {

struct FlashGrant {
  enum class Kind { kGranted, kDuplicate, kSoldOut, kNotWarm };
  Kind kind = Kind::kSoldOut;
  int64_t remaining = 0;  // units left after the decision (kGranted, kSoldOut)
  std::string grant_id;   // kGranted, kDuplicate
  char dup_state = 0;     // kDuplicate: 'g', 'p' or 'r'
  int64_t dup_quantity = 0;
};

struct PendingGrant {
  std::string grant_id;
  std::string order_id;
  int64_t quantity = 0;
  int64_t epoch = 0;
  TimePoint expires_at{};
};

enum class RevokeMode {
  kDrop,       // the database refused and the units were never Redis's to give (drift, epoch)
  kRestock,    // the database refused and the units are still in the pool: give them back
  kTombstone,  // like kRestock, and remember the order as released
  kDuplicate,  // the order already had its reservation: give back, remember it as persisted
};

struct FlashOrderState {
  std::string order_id;
  int64_t quantity = 0;
  bool live = false;  // RESERVED / CONFIRMED (false: released or expired)
};

struct ReconcileResult {
  bool skipped = false;   // Redis holds a newer epoch (a warm raced ahead)
  bool rewarmed = false;  // Redis had lost the sale and was loaded again
  int64_t counter_before = 0;
  int64_t expected = 0;
  int64_t pending = 0;     // granted in Redis, not (yet) in PostgreSQL
  int64_t backfilled = 0;  // order records restored from PostgreSQL
};

class FlashSaleStore {
 public:
  virtual ~FlashSaleStore() = default;
  virtual absl::StatusOr<FlashGrant> TryReserve(const std::string& sku_id, int64_t epoch,
                                                const std::string& order_id, int64_t quantity,
                                                TimePoint expires_at) = 0;
  using GrantCallback = std::function<void(absl::StatusOr<FlashGrant>)>;
  // TryReserve without blocking the caller where the store can: `done` may run on another
  // thread (keep it short). The default runs TryReserve inline.
  virtual void TryReserveAsync(const std::string& sku_id, int64_t epoch,
                               const std::string& order_id, int64_t quantity, TimePoint expires_at,
                               GrantCallback done) {
    done(TryReserve(sku_id, epoch, order_id, quantity, expires_at));
  }
  virtual absl::Status MarkPersisted(const std::string& sku_id, const std::string& order_id,
                                     const std::string& grant_id) = 0;
  // MarkPersisted without waiting for it (best effort: reconciliation and the drain repair a
  // missed mark). The default runs MarkPersisted inline and logs a failure.
  virtual void MarkPersistedAsync(const std::string& sku_id, const std::string& order_id,
                                  const std::string& grant_id);
  virtual absl::Status Revoke(const std::string& sku_id, const std::string& order_id,
                              const std::string& grant_id, int64_t epoch, int64_t quantity,
                              RevokeMode mode) = 0;
  // Sets the counter for a new epoch (never goes back to an older one).
  virtual absl::Status Warm(const std::string& sku_id, int64_t epoch, int64_t units) = 0;
  // Grants older than `before` still in the stream.
  virtual absl::StatusOr<std::vector<PendingGrant>> PendingGrants(const std::string& sku_id,
                                                                  TimePoint before, int limit) = 0;
  // Compares Redis with the database's pool (taken under the pool's row lock); with repair, sets
  // the counter and the order records (and the epoch, if Redis lost the sale) to match.
  virtual absl::StatusOr<ReconcileResult> Reconcile(const std::string& sku_id, int64_t epoch,
                                                    int64_t pool_available,
                                                    const std::vector<FlashOrderState>& orders,
                                                    bool repair) = 0;
};
using FlashSaleStorePtr = std::unique_ptr<FlashSaleStore>;

class RedisFlashSaleStore : public FlashSaleStore {
 public:
  // pipeline (optional, not owned) carries TryReserveAsync; everything else uses client.
  explicit RedisFlashSaleStore(redis::Client& client, RedisPipeline* pipeline = nullptr)
      : client_(client), pipeline_(pipeline) {}

  absl::StatusOr<FlashGrant> TryReserve(const std::string& sku_id, int64_t epoch,
                                        const std::string& order_id, int64_t quantity,
                                        TimePoint expires_at) override;
  void TryReserveAsync(const std::string& sku_id, int64_t epoch, const std::string& order_id,
                       int64_t quantity, TimePoint expires_at, GrantCallback done) override;
  absl::Status MarkPersisted(const std::string& sku_id, const std::string& order_id,
                             const std::string& grant_id) override;
  void MarkPersistedAsync(const std::string& sku_id, const std::string& order_id,
                          const std::string& grant_id) override;
  absl::Status Revoke(const std::string& sku_id, const std::string& order_id,
                      const std::string& grant_id, int64_t epoch, int64_t quantity,
                      RevokeMode mode) override;
  absl::Status Warm(const std::string& sku_id, int64_t epoch, int64_t units) override;
  absl::StatusOr<std::vector<PendingGrant>> PendingGrants(const std::string& sku_id,
                                                          TimePoint before, int limit) override;
  absl::StatusOr<ReconcileResult> Reconcile(const std::string& sku_id, int64_t epoch,
                                            int64_t pool_available,
                                            const std::vector<FlashOrderState>& orders,
                                            bool repair) override;

  // Keys of a SKU's sale, in the order the scripts take them: stock, epoch, resv, grants.
  std::vector<std::string> Keys(const std::string& sku_id) const;

 private:
  redis::Client& client_;
  RedisPipeline* pipeline_;
};

// The reserve script's text (bench/flash-sale loads the same script into redis-benchmark).
const std::string& FlashReserveScript();

}  // namespace orderly::inventory
