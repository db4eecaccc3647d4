#include "inventory_metrics.hpp"

#include <map>
#include <utility>

namespace orderly::inventory::metrics {
namespace {
orderly::metrics::Registry& R() { return orderly::metrics::Registry::Default(); }
}  // namespace

void CountReserve(const std::string& path, const std::string& outcome) {
  // The hot path of a flash sale: look each series up once per thread.
  thread_local std::map<std::pair<std::string, std::string>, orderly::metrics::Counter*> cache;
  auto& slot = cache[{path, outcome}];
  if (slot == nullptr) {
    slot = &R().GetCounter("orderly_inventory_reserve_decisions_total",
                           "Reserve decisions by path and outcome",
                           {{"path", path}, {"outcome", outcome}});
  }
  slot->Inc();
}

void CountRedisFallback(const std::string& reason) {
  R().GetCounter("orderly_inventory_redis_fallback_total",
                 "Flash-sale reservations decided on the database because Redis could not",
                 {{"reason", reason}})
      .Inc();
}

void CountSweeperReleased(int n) {
  if (n <= 0) return;
  R().GetCounter("orderly_inventory_sweeper_released_total",
                 "Reservations expired and released by the sweeper")
      .Inc(n);
}

void CountDrift(int64_t found_units, bool repaired) {
  R().GetCounter("orderly_inventory_flash_reconcile_runs_total", "Flash-sale reconciliation runs")
      .Inc();
  if (found_units == 0) return;
  R().GetCounter("orderly_inventory_flash_drift_found_total",
                 "Flash-sale Redis counter drift found (units, absolute)")
      .Inc(static_cast<double>(found_units < 0 ? -found_units : found_units));
  if (repaired) {
    R().GetCounter("orderly_inventory_flash_drift_repaired_total",
                   "Flash-sale Redis counter drift repaired (units, absolute)")
        .Inc(static_cast<double>(found_units < 0 ? -found_units : found_units));
  }
}

void CountRevoked(const std::string& mode) {
  R().GetCounter("orderly_inventory_flash_grants_revoked_total",
                 "Redis grants the database refused", {{"mode", mode}})
      .Inc();
}

void CountDrained(const std::string& outcome) {
  R().GetCounter("orderly_inventory_flash_grants_drained_total",
                 "Redis grants persisted by the background drain", {{"outcome", outcome}})
      .Inc();
}

void CountConfirm(const std::string& outcome) {
  R().GetCounter("orderly_inventory_confirm_total", "Confirm outcomes", {{"outcome", outcome}})
      .Inc();
}

void CountReserveRetry(const std::string& reason) {
  R().GetCounter("orderly_inventory_reserve_retries_total",
                 "One-statement Reserves run again after a deadlock or serialization failure",
                 {{"reason", reason}})
      .Inc();
}

void CountSoldOutCheck(const std::string& outcome) {
  thread_local std::map<std::string, orderly::metrics::Counter*> cache;
  auto& slot = cache[outcome];
  if (slot == nullptr) {
    slot = &R().GetCounter("orderly_inventory_sold_out_checks_total",
                           "One-line database Reserves of a sold-out SKU asked with the plain read",
                           {{"outcome", outcome}});
  }
  slot->Inc();
}

void CountRelease(const std::string& outcome) {
  R().GetCounter("orderly_inventory_release_total", "Release outcomes", {{"outcome", outcome}})
      .Inc();
}

}  // namespace orderly::inventory::metrics
