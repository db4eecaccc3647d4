#include "inventory_events.hpp"

#include "inventory_proto.hpp"

namespace orderly::inventory {
namespace {

EventEnvelope ReservationEnvelope(const std::string& order_id) {
  EventEnvelope ev;
  ev.set_aggregate_type("reservation");
  ev.set_aggregate_id(order_id);
  ev.set_order_id(order_id);
  return ev;
}

EventEnvelope SkuEnvelope(const std::string& sku_id) {
  EventEnvelope ev;
  ev.set_aggregate_type("sku");
  ev.set_aggregate_id(sku_id);
  return ev;
}

}  // namespace

EventEnvelope StockReservedEvent(const Reservation& r) {
  EventEnvelope ev = ReservationEnvelope(r.order_id);
  auto* p = ev.mutable_stock_reserved();
  p->set_order_id(r.order_id);
  p->set_order_type(r.order_type);
  for (const auto& l : r.lines) *p->add_lines() = LineToProto(l);
  *p->mutable_expires_at() = ToProtoTimestamp(r.expires_at);
  return ev;
}

EventEnvelope StockDeductedEvent(const Reservation& r, bool reacquired) {
  EventEnvelope ev = ReservationEnvelope(r.order_id);
  auto* p = ev.mutable_stock_deducted();
  p->set_order_id(r.order_id);
  for (const auto& l : r.lines) *p->add_lines() = LineToProto(l);
  *p->mutable_deducted_at() = ToProtoTimestamp(r.updated_at);
  p->set_reacquired(reacquired);
  return ev;
}

EventEnvelope StockReleasedEvent(const Reservation& r) {
  EventEnvelope ev = ReservationEnvelope(r.order_id);
  auto* p = ev.mutable_stock_released();
  p->set_order_id(r.order_id);
  p->set_reason(r.release_reason);
  for (const auto& l : r.lines) *p->add_lines() = LineToProto(l);
  p->set_tombstone(r.state == ReservationState::kTombstone);
  *p->mutable_released_at() = ToProtoTimestamp(r.updated_at);
  return ev;
}

EventEnvelope StockConfirmRefusedEvent(const std::string& order_id, const Reservation& r,
                                       const StockRefusal& refusal, TimePoint at) {
  EventEnvelope ev = ReservationEnvelope(order_id);
  auto* p = ev.mutable_stock_confirm_refused();
  p->set_order_id(order_id);
  if (refusal.paid_order_id != order_id) p->set_paid_order_id(refusal.paid_order_id);
  p->set_reason(refusal.reason);
  p->set_sku_id(refusal.sku_id);
  p->set_requested(refusal.requested);
  p->set_available(refusal.available);
  for (const auto& l : r.lines) *p->add_lines() = LineToProto(l);
  *p->mutable_refused_at() = ToProtoTimestamp(at);
  return ev;
}

EventEnvelope StockLowEvent(const SkuRecord& sku, int64_t available, TimePoint at) {
  EventEnvelope ev = SkuEnvelope(sku.sku_id);
  auto* p = ev.mutable_stock_low();
  p->set_sku_id(sku.sku_id);
  p->set_merchant_id(sku.merchant_id);
  p->set_warehouse_id(sku.warehouse_id);
  p->set_available(available);
  p->set_threshold(sku.low_stock_threshold);
  *p->mutable_detected_at() = ToProtoTimestamp(at);
  return ev;
}

EventEnvelope SkuUpsertedEvent(const SkuRecord& sku) {
  EventEnvelope ev = SkuEnvelope(sku.sku_id);
  *ev.mutable_sku_upserted()->mutable_sku() = SkuToProto(sku);
  return ev;
}

}  // namespace orderly::inventory
