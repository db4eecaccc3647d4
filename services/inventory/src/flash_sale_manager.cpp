#include "flash_sale_manager.hpp"

#include <spdlog/spdlog.h>

#include "inventory_metrics.hpp"
#include "orderly/core/status.hpp"
#include "reservation_rules.hpp"

namespace orderly::inventory {

absl::StatusOr<WarmResult> FlashSaleManager::Warm(const std::string& sku_id) {
  if (sku_id.empty()) {
    return InvalidArgumentError("invalid WarmFlashSale request", {{"sku_id", "required"}});
  }
  WarmResult result;
  auto s = repo_.InTransaction([&](StockTx& tx) -> absl::Status {
    auto sku = tx.LockSku(sku_id);
    if (!sku.ok()) return sku.status();
    if (!*sku) return SkuNotFound(sku_id);
    if (!(*sku)->flash_sale) {
      return FailedPreconditionError("FLASH_SALE_NOT_READY", "sku/" + sku_id,
                                     "SKU " + sku_id + " is not marked flash_sale",
                                     {{"sku_id", sku_id}});
    }
    if ((*sku)->sale_status != v1::SKU_SALE_STATUS_ON_SALE) {
      return FailedPreconditionError("SKU_OFF_SALE", "sku/" + sku_id,
                                     "SKU " + sku_id + " is off sale", {{"sku_id", sku_id}});
    }
    const int64_t epoch = (*sku)->flash_epoch + 1;
    auto pool = tx.MoveToFlashPool(sku_id, epoch);
    if (!pool.ok()) return pool.status();
    // Redis is loaded while the SKU row is locked: no grant of any epoch persists in between,
    // and grants of older epochs are refused afterwards, so the pool is exactly what Redis may
    // grant. A Redis failure rolls the warm back.
    if (auto w = store_.Warm(sku_id, epoch, *pool); !w.ok()) return w;
    result = {sku_id, *pool, epoch};
    return absl::OkStatus();
  });
  reservations_.InvalidateSku(sku_id);
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<SkuReconcileReport> FlashSaleManager::Reconcile(const std::string& sku_id,
                                                               bool repair) {
  SkuReconcileReport report;
  report.sku_id = sku_id;
  auto s = repo_.InTransaction([&](StockTx& tx) -> absl::Status {
    auto skus = tx.FindSkus({sku_id}, false);
    if (!skus.ok()) return skus.status();
    if (skus->empty()) return SkuNotFound(sku_id);
    report.epoch = skus->front().flash_epoch;
    if (!skus->front().flash_sale || report.epoch == 0) return absl::OkStatus();
    // The pool's row lock holds back every persist and fallback reservation of this SKU while
    // Redis is compared, so both sides are seen at one instant.
    auto pool = tx.LockFlashPool(sku_id);
    if (!pool.ok()) return pool.status();
    report.pool_available = *pool;
    auto orders = tx.FlashOrders(sku_id);
    if (!orders.ok()) return orders.status();
    std::vector<FlashOrderState> states;
    states.reserve(orders->size());
    for (const auto& o : *orders) states.push_back({o.order_id, o.quantity, o.live});
    auto r = store_.Reconcile(sku_id, report.epoch, *pool, states, repair);
    if (!r.ok()) return r.status();
    report.redis = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (report.epoch > 0 && !report.redis.skipped) {
    metrics::CountDrift(report.drift(), repair);
    if (report.drift() != 0 || report.redis.rewarmed || report.redis.backfilled > 0) {
      spdlog::warn(
          "flash sale reconcile sku={} epoch={} pool={} redis_counter={} expected={} pending={} "
          "backfilled={} rewarmed={} repaired={}",
          sku_id, report.epoch, report.pool_available, report.redis.counter_before,
          report.redis.expected, report.redis.pending, report.redis.backfilled,
          report.redis.rewarmed, repair);
    }
  }
  return report;
}

absl::StatusOr<std::vector<SkuReconcileReport>> FlashSaleManager::ReconcileAll(bool repair) {
  auto skus = repo_.WarmFlashSkus();
  if (!skus.ok()) return skus.status();
  std::vector<SkuReconcileReport> out;
  for (const auto& sku : *skus) {
    auto r = Reconcile(sku.sku_id, repair);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

absl::StatusOr<int> FlashSaleManager::DrainPending(std::chrono::milliseconds min_age,
                                                   int limit_per_sku) {
  auto skus = repo_.WarmFlashSkus();
  if (!skus.ok()) return skus.status();
  int handled = 0;
  for (const auto& sku : *skus) {
    auto grants = store_.PendingGrants(sku.sku_id, clock_->Now() - min_age, limit_per_sku);
    if (!grants.ok()) return grants.status();
    for (const auto& g : *grants) {
      ReserveCommand cmd;
      cmd.order_id = g.order_id;
      cmd.items = {{sku.sku_id, g.quantity}};
      cmd.order_type = common::v1::ORDER_TYPE_FLASH_SALE;
      cmd.expires_at = g.expires_at;
      auto r = reservations_.PersistFlashGrant(cmd, sku, g.epoch, g.grant_id);
      const bool infra = !r.ok() && (r.status().code() == absl::StatusCode::kUnavailable ||
                                     r.status().code() == absl::StatusCode::kUnknown ||
                                     r.status().code() == absl::StatusCode::kInternal);
      if (infra) return r.status();  // keep the entry; the next round tries again
      metrics::CountDrained(r.ok() ? "persisted" : "revoked");
      ++handled;
    }
  }
  return handled;
}

}  // namespace orderly::inventory
