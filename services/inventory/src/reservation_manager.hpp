#pragma once
// The reservation domain: Reserve (try), Confirm, Release (cancel), expiry, on two paths.
//
//  * Database path (ordinary SKUs, and flash-sale SKUs while Redis is unavailable): one
//    statement per order (inventory_reserve, its own transaction) takes every line with
//    conditional updates on the SKU's buckets, in sku_id order, and records the reservation plus
//    its StockReserved event; any refusal writes nothing. The multi-statement transaction
//    remains for what that statement hands back (a low-stock crossing).
//  * Redis path (FLASH_SALE orders of a warmed SKU): a Lua script admits or refuses in Redis;
//    an admitted grant is then persisted synchronously (conditional update on the SKU's flash
//    pool, epoch fenced) before the caller hears OK, so an acknowledged reservation is always in
//    PostgreSQL. Grants whose persist did not happen are drained later by FlashSaleWorker.
//    ReserveAsync (the gRPC handler) runs the same decisions without blocking: Lua over a
//    pipelined connection, grants persisted in batches, database work on the caller's pool.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "flash_sale_store.hpp"
#include "orderly/core/circuit_breaker.hpp"
#include "orderly/core/clock.hpp"
#include "reservation_rules.hpp"
#include "stock_repository.hpp"

namespace orderly::inventory {

struct ReservationManagerOptions {
  PaymentWindows windows;
  // After a Redis failure the flash path goes straight to the database for this long.
  std::chrono::milliseconds redis_breaker_open{500};
  // Catalog data the Redis path reads without a database round trip.
  std::chrono::milliseconds sku_cache_ttl{1000};
};

// Result of an operation run inside a caller's transaction: `status` is the answer for the
// caller even when the transaction commits (an expired reservation is expired and reported).
struct Outcome {
  absl::Status status;
  Reservation reservation;
};

class ReservationManager {
 public:
  // flash may be null (no Redis: flash-sale orders use the database path).
  ReservationManager(StockRepository& repo, FlashSaleStore* flash, ClockPtr clock,
                     ReservationManagerOptions options = {});
  ~ReservationManager();

  absl::StatusOr<Reservation> Reserve(const ReserveCommand& cmd);

  // Reserve for a non-blocking caller (the gRPC callback handler). A FLASH_SALE order of a
  // cached, warm SKU is admitted by Redis through the store's pipeline and a sold-out refusal is
  // answered on that thread; anything that needs the database runs through `submit`. `done` is
  // called exactly once, possibly on another thread, with what Reserve would have returned.
  using ReserveCallback = std::function<void(absl::StatusOr<Reservation>)>;
  using Submit = std::function<void(std::function<void()>)>;
  void ReserveAsync(const ReserveCommand& cmd, const Submit& submit, ReserveCallback done);
  absl::StatusOr<Reservation> Confirm(const std::string& order_id);
  absl::StatusOr<Reservation> Release(const std::string& order_id, ReleaseReason reason);
  absl::StatusOr<Reservation> Get(const std::string& order_id);

  // In a caller's transaction (the inbox consumer). A non-OK return means "roll back"; the
  // business answer is in out->status.
  absl::Status ConfirmInTx(StockTx& tx, const std::string& order_id, Outcome* out);
  absl::Status ReleaseInTx(StockTx& tx, const std::string& order_id, ReleaseReason reason,
                           Outcome* out);
  // OrderPaid whose reservation was released or has expired (release race, expiry race): takes
  // every line from available stock again into sold, or none. Returns FAILED_PRECONDITION
  // (INSUFFICIENT_STOCK, RESERVATION_RELEASED for a tombstone or a recorded refusal) when it
  // cannot, after which the caller must roll back (a line may have been taken).
  absl::Status ReacquireInTx(StockTx& tx, const std::string& order_id, Outcome* out);
  // OrderCancelled of an order that was never paid, whose reservation is nevertheless CONFIRMED
  // (a Confirm whose order then timed out: order-core's confirm of a late payment followed by a
  // crash before the payment was recorded, or a stray Confirm call): the sold units go back to
  // available and the reservation is RELEASED. Anything else is left as it is.
  absl::Status ReturnUnpaidInTx(StockTx& tx, const std::string& order_id, ReleaseReason reason,
                                bool* returned);
  // Records that the paid order `order_id` cannot be backed by stock (`refusal`, the status of
  // the failed confirm or re-acquire) and emits StockConfirmRefused, once per reservation: sets
  // *emitted accordingly. A RESERVED reservation (a DEDUCT_AT_PAYMENT line sold out) is released
  // so its other lines' stock returns now; a missing one gets a tombstone.
  absl::Status RefuseConfirmInTx(StockTx& tx, const std::string& order_id,
                                 const std::string& paid_order_id, const absl::Status& refusal,
                                 bool* emitted);

  // Expires up to `limit` lapsed reservations (returning their stock); returns how many.
  absl::StatusOr<int> ExpireDue(int limit);

  // Persists one Redis grant (sync path and FlashSaleWorker). fresh_grant: Redis decremented
  // for this call, so a refusal gives the units back.
  absl::StatusOr<Reservation> PersistFlashGrant(const ReserveCommand& cmd, const SkuRecord& sku,
                                                int64_t epoch, const std::string& grant_id);

  // Forget cached catalog data (after UpsertSku / WarmFlashSale).
  void InvalidateSku(const std::string& sku_id);

 private:
  // sold_out_checked: the caller already asked ShortOfStock for this order (skip asking again).
  absl::StatusOr<Reservation> ReserveInDb(const ReserveCommand& cmd, const std::string& path,
                                          bool sold_out_checked = false);
  // nullopt: not decided here (take ReserveInTransaction).
  std::optional<absl::StatusOr<Reservation>> ReserveInOneStatement(const ReserveCommand& cmd,
                                                                   bool sold_out_checked);
  // One-line ordinary orders of a SKU sold out a moment ago, on the async path: their
  // ShortOfStock reads are sent in batches (one statement for everything queued meanwhile) by
  // one pool task at a time, which answers the refusals; every other order goes on to
  // inventory_reserve on the pool. A hand-off per batch instead of per order.
  struct QueuedCheck {
    ReserveCommand cmd;  // validated, order_type set
    DeductionPolicy policy;
    Submit submit;
    ReserveCallback done;
  };
  void EnqueueSoldOutCheck(QueuedCheck c);
  void RunSoldOutChecks();
  absl::StatusOr<Reservation> ReserveInTransaction(const ReserveCommand& cmd);
  DeductionPolicy PolicyHint(const std::string& sku_id) const;
  // SKUs whose last one-line database Reserve was refused with nothing available: their next
  // one-line Reserve first sends StockRepository::ShortOfStock (one plain read) and only calls
  // inventory_reserve when that does not refuse. Picks a statement, never an answer.
  bool SoldOutHint(const std::string& sku_id) const;
  void SetSoldOutHint(const std::string& sku_id, bool sold_out);
  void LearnPolicy(const std::string& sku_id, DeductionPolicy policy);
  absl::StatusOr<Reservation> ReserveFlash(const ReserveCommand& cmd);
  // The Redis path after the Lua decision (sold out: no I/O; otherwise the database).
  absl::StatusOr<Reservation> AfterFlashDecision(const ReserveCommand& cmd, const SkuRecord& sku,
                                                 TimePoint expires_at,
                                                 const absl::StatusOr<FlashGrant>& grant);
  absl::StatusOr<Reservation> FlashFallback(const ReserveCommand& cmd, const char* reason);
  // A refusal when the (cached) catalog says no; nullopt to go on.
  std::optional<absl::StatusOr<Reservation>> CheckFlashCatalog(const ReserveCommand& cmd,
                                                               const SkuRecord& sku);
  bool FreshCachedSku(const std::string& sku_id, SkuRecord* out) const;
  // Grants admitted on the async path are persisted in batches by two threads: a batch is one
  // statement and one commit (the pool row's lock is held across the commit, so a commit per
  // winner serializes the sale on fsync). Grants a batch did not write take PersistFlashGrant.
  struct QueuedGrant {
    ReserveCommand cmd;  // expires_at set
    SkuRecord sku;
    std::string grant_id;
    Submit submit;
    ReserveCallback done;
  };
  void EnqueueGrant(QueuedGrant g);
  void GrantPersistLoop();
  absl::StatusOr<SkuRecord> CachedSku(const std::string& sku_id);
  absl::Status ExpireInTx(StockTx& tx, Reservation& r);
  // Every line to `to`: reserved units back to available, sold ones (a confirmed reservation whose
  // order ended unpaid) too; writes the reservation, its StockReleased and low-stock re-arms.
  absl::Status ReleaseLines(StockTx& tx, Reservation& r, LineState to);
  absl::Status MaybeLowStock(StockTx& tx, const SkuRecord& sku);
  static BreakerOptions RedisBreakerOptions(std::chrono::milliseconds open_for);

  StockRepository& repo_;
  FlashSaleStore* flash_;
  ClockPtr clock_;
  ReservationManagerOptions options_;

  struct CachedEntry {
    SkuRecord sku;
    TimePoint loaded;
  };
  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, CachedEntry> cache_;
  std::unordered_map<std::string, DeductionPolicy> policy_hints_;  // non-default ones only
  // The Redis path's breaker (libs/core); its closed state costs an atomic load per call.
  CircuitBreaker redis_breaker_;
  mutable std::shared_mutex sold_out_mu_;
  std::unordered_set<std::string> sold_out_;
  std::mutex checks_mu_;
  std::deque<QueuedCheck> checks_;
  bool checks_running_ = false;  // a pool task is draining checks_

  std::mutex grants_mu_;
  std::condition_variable grants_cv_;
  std::deque<QueuedGrant> grants_;
  bool grants_stop_ = false;
  std::once_flag grants_started_;
  std::vector<std::thread> grants_threads_;
};

}  // namespace orderly::inventory
