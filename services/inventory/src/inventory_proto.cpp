#include "inventory_proto.hpp"

#include <google/protobuf/util/time_util.h>

namespace orderly::inventory {

using google::protobuf::util::TimeUtil;

v1::Sku SkuToProto(const SkuRecord& s) {
  v1::Sku p;
  p.set_sku_id(s.sku_id);
  p.set_product_id(s.product_id);
  p.set_product_name(s.product_name);
  for (const auto& [k, v] : s.specs) (*p.mutable_specs())[k] = v;
  p.mutable_list_price()->set_amount_minor(s.price_minor);
  p.mutable_list_price()->set_currency_code(s.currency_code);
  p.set_sale_status(s.sale_status);
  p.set_merchant_id(s.merchant_id);
  p.set_warehouse_id(s.warehouse_id);
  p.set_purchase_limit(s.purchase_limit);
  p.set_deduction_policy(s.deduction_policy);
  p.set_flash_sale(s.flash_sale);
  p.set_stock_buckets(s.stock_buckets);
  p.set_low_stock_threshold(s.low_stock_threshold);
  *p.mutable_created_at() = ToProtoTimestamp(s.created_at);
  *p.mutable_updated_at() = ToProtoTimestamp(s.updated_at);
  return p;
}

SkuRecord SkuFromProto(const v1::Sku& p) {
  SkuRecord s;
  s.sku_id = p.sku_id();
  s.product_id = p.product_id();
  s.product_name = p.product_name();
  for (const auto& [k, v] : p.specs()) s.specs[k] = v;
  s.price_minor = p.list_price().amount_minor();
  s.currency_code = p.list_price().currency_code();
  s.sale_status = p.sale_status();
  s.merchant_id = p.merchant_id();
  s.warehouse_id = p.warehouse_id();
  s.purchase_limit = p.purchase_limit();
  s.deduction_policy = p.deduction_policy() == v1::DEDUCTION_POLICY_UNSPECIFIED
                           ? v1::DEDUCTION_POLICY_RESERVE_AT_ORDER
                           : p.deduction_policy();
  s.flash_sale = p.flash_sale();
  s.stock_buckets = p.stock_buckets() == 0 ? 1 : p.stock_buckets();
  s.low_stock_threshold = p.low_stock_threshold();
  return s;
}

bool SameCatalog(const SkuRecord& a, const SkuRecord& b) {
  return a.sku_id == b.sku_id && a.product_id == b.product_id && a.product_name == b.product_name &&
         a.specs == b.specs && a.price_minor == b.price_minor &&
         a.currency_code == b.currency_code && a.sale_status == b.sale_status &&
         a.merchant_id == b.merchant_id && a.warehouse_id == b.warehouse_id &&
         a.purchase_limit == b.purchase_limit && a.deduction_policy == b.deduction_policy &&
         a.flash_sale == b.flash_sale && a.stock_buckets == b.stock_buckets &&
         a.low_stock_threshold == b.low_stock_threshold;
}

v1::StockLevel StockLevelToProto(const StockLevel& l) {
  v1::StockLevel p;
  p.set_sku_id(l.sku_id);
  p.set_available(l.available);
  p.set_reserved(l.reserved);
  p.set_sold(l.sold);
  p.set_total_received(l.total_received);
  return p;
}

namespace {
v1::ReservationState LineStateToProto(LineState s) {
  switch (s) {
    case LineState::kReserved: return v1::RESERVATION_STATE_RESERVED;
    case LineState::kConfirmed: return v1::RESERVATION_STATE_CONFIRMED;
    case LineState::kDeducted: return v1::RESERVATION_STATE_DEDUCTED;
    case LineState::kReleased: return v1::RESERVATION_STATE_RELEASED;
    case LineState::kExpired: return v1::RESERVATION_STATE_EXPIRED;
  }
  return v1::RESERVATION_STATE_UNSPECIFIED;
}
}  // namespace

v1::ReservationState StateToProto(ReservationState s) {
  switch (s) {
    case ReservationState::kReserved: return v1::RESERVATION_STATE_RESERVED;
    case ReservationState::kConfirmed: return v1::RESERVATION_STATE_CONFIRMED;
    case ReservationState::kReleased: return v1::RESERVATION_STATE_RELEASED;
    case ReservationState::kExpired: return v1::RESERVATION_STATE_EXPIRED;
    case ReservationState::kTombstone: return v1::RESERVATION_STATE_RELEASED;
  }
  return v1::RESERVATION_STATE_UNSPECIFIED;
}

v1::ReservationLine LineToProto(const ReservationLine& l) {
  v1::ReservationLine p;
  p.set_sku_id(l.sku_id);
  p.set_quantity(l.quantity);
  p.set_deduction_policy(l.policy);
  p.set_state(LineStateToProto(l.state));
  return p;
}

v1::Reservation ReservationToProto(const Reservation& r) {
  v1::Reservation p;
  p.set_order_id(r.order_id);
  p.set_state(StateToProto(r.state));
  p.set_order_type(r.order_type);
  for (const auto& l : r.lines) *p.add_lines() = LineToProto(l);
  *p.mutable_expires_at() = ToProtoTimestamp(r.expires_at);
  p.set_release_reason(r.release_reason);
  *p.mutable_created_at() = ToProtoTimestamp(r.created_at);
  *p.mutable_updated_at() = ToProtoTimestamp(r.updated_at);
  return p;
}

}  // namespace orderly::inventory
