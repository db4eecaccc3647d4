#pragma once
// Flash-sale lifecycle around the Redis counter: WarmFlashSale, the drain of grants whose
// synchronous persist did not happen, and reconciliation of Redis against PostgreSQL.
#include <absl/status/statusor.h>

#include <chrono>
#include <string>
#include <vector>

#include "flash_sale_store.hpp"
#include "reservation_manager.hpp"
#include "stock_repository.hpp"

namespace orderly::inventory {

struct WarmResult {
  std::string sku_id;
  int64_t loaded_quantity = 0;
  int64_t epoch = 0;
};

struct SkuReconcileReport {
  std::string sku_id;
  int64_t epoch = 0;
  int64_t pool_available = 0;
  ReconcileResult redis;
  int64_t drift() const { return redis.counter_before - redis.expected; }
};

class FlashSaleManager {
 public:
  FlashSaleManager(StockRepository& repo, FlashSaleStore& store, ReservationManager& reservations,
                   ClockPtr clock)
      : repo_(repo), store_(store), reservations_(reservations), clock_(std::move(clock)) {}

  // Moves the SKU's available stock into its flash pool, bumps the epoch (fencing every older
  // Redis grant) and loads the pool into Redis, all under the SKU's row lock.
  absl::StatusOr<WarmResult> Warm(const std::string& sku_id);

  // Compares (and with repair, fixes) Redis against the database for one warm SKU.
  absl::StatusOr<SkuReconcileReport> Reconcile(const std::string& sku_id, bool repair);
  // Every warm SKU.
  absl::StatusOr<std::vector<SkuReconcileReport>> ReconcileAll(bool repair);

  // Persists (or refuses and gives back) grants older than `min_age` still in the stream.
  // Returns how many were handled.
  absl::StatusOr<int> DrainPending(std::chrono::milliseconds min_age, int limit_per_sku = 500);

 private:
  StockRepository& repo_;
  FlashSaleStore& store_;
  ReservationManager& reservations_;
  ClockPtr clock_;
};

}  // namespace orderly::inventory
