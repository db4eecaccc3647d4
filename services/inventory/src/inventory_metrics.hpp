#pragma once
// Inventory's Prometheus series (registered in the default registry, rendered on /metrics).
#include <string>

#include "orderly/core/metrics.hpp"

namespace orderly::inventory::metrics {

// orderly_inventory_reserve_decisions_total{path="db|redis|db_fallback", outcome=...}
// outcome: reserved, replayed, insufficient, refused (other business errors), error.
void CountReserve(const std::string& path, const std::string& outcome);
// orderly_inventory_reserve_retries_total{reason="aborted"}: one-statement Reserves run again
// after a deadlock or serialization failure (nothing was written).
void CountReserveRetry(const std::string& reason);
// orderly_inventory_sold_out_checks_total{outcome="refused|passed|error"}: one-line database
// Reserves of a SKU sold out a moment ago, asked with the plain read first.
void CountSoldOutCheck(const std::string& outcome);
// orderly_inventory_redis_fallback_total{reason="unavailable|breaker_open|not_warm"}
void CountRedisFallback(const std::string& reason);
// orderly_inventory_sweeper_released_total
void CountSweeperReleased(int n);
// orderly_inventory_flash_drift_found_total / _repaired_total (units), reconciliation runs
void CountDrift(int64_t found_units, bool repaired);
// orderly_inventory_flash_grants_revoked_total{mode}
void CountRevoked(const std::string& mode);
// orderly_inventory_flash_grants_drained_total{outcome="persisted|revoked"}
void CountDrained(const std::string& outcome);
// orderly_inventory_confirm_total{outcome}, orderly_inventory_release_total{outcome}
void CountConfirm(const std::string& outcome);
void CountRelease(const std::string& outcome);

}  // namespace orderly::inventory::metrics
