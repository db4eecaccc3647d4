#pragma once
// Every event inventory emits, built in one place (topic orderly.inventory.v1; the contract is
// proto/orderly/events/v1/inventory_events.proto). Reservation events: aggregate "reservation" /
// order_id, keyed by the order; SKU events: aggregate "sku" / sku_id.
#include <cstdint>
#include <string>

#include "inventory_types.hpp"
#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"

namespace orderly::inventory {

using EventEnvelope = events::v1::EventEnvelope;

// Reserve succeeded: lines, order type, hold until expires_at.
EventEnvelope StockReservedEvent(const Reservation& r);
// Confirm succeeded (at r.updated_at). reacquired: the units were taken from available stock
// again after the reservation had been released or had expired.
EventEnvelope StockDeductedEvent(const Reservation& r, bool reacquired = false);
// Released or expired (at r.updated_at, reason r.release_reason); a tombstone has no lines.
EventEnvelope StockReleasedEvent(const Reservation& r);
// A paid order could not be backed by stock. r: its reservation (lines; empty when none).
struct StockRefusal {
  std::string paid_order_id;  // the order whose OrderPaid was refused (a child, or the order)
  std::string reason;         // ErrorReason name
  std::string sku_id;         // INSUFFICIENT_STOCK: the short SKU
  int64_t requested = 0;
  int64_t available = 0;
};
EventEnvelope StockConfirmRefusedEvent(const std::string& order_id, const Reservation& r,
                                       const StockRefusal& refusal, TimePoint at);
// Available stock crossed below the SKU's threshold.
EventEnvelope StockLowEvent(const SkuRecord& sku, int64_t available, TimePoint at);
// Catalog data created or changed.
EventEnvelope SkuUpsertedEvent(const SkuRecord& sku);

}  // namespace orderly::inventory
