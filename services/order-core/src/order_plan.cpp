#include "order_plan.hpp"

#include <absl/strings/str_cat.h>

#include <algorithm>
#include <map>
#include <set>

#include "order_flows.hpp"
#include "orderly/core/proto_convert.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;

ov1::DiscountKind KindOf(pricing::DiscountKind k) {
  switch (k) {
    case pricing::DiscountKind::kPromotion: return ov1::DISCOUNT_KIND_PROMOTION;
    case pricing::DiscountKind::kMember: return ov1::DISCOUNT_KIND_MEMBER;
    case pricing::DiscountKind::kCoupon: return ov1::DISCOUNT_KIND_COUPON;
    case pricing::DiscountKind::kPoints: return ov1::DISCOUNT_KIND_POINTS;
  }
  return ov1::DISCOUNT_KIND_UNSPECIFIED;
}

// Sums lines (and a shipping share) into a breakdown.
ov1::PriceBreakdown SumLines(const std::vector<const ov1::OrderLine*>& lines, int64_t shipping,
                             int64_t points_used, const std::string& currency) {
  int64_t base = 0, promo = 0, member = 0, coupon = 0, points = 0, fin = 0;
  for (const auto* l : lines) {
    base += l->base_amount().amount_minor();
    promo += l->promotion_discount().amount_minor();
    member += l->member_discount().amount_minor();
    coupon += l->coupon_discount().amount_minor();
    points += l->points_discount().amount_minor();
    fin += l->final_amount().amount_minor();
  }
  ov1::PriceBreakdown b;
  *b.mutable_items_total() = ToProtoMoney(base, currency);
  *b.mutable_activity_discount() = ToProtoMoney(promo, currency);
  *b.mutable_member_discount() = ToProtoMoney(member, currency);
  *b.mutable_coupon_discount() = ToProtoMoney(coupon, currency);
  *b.mutable_points_discount() = ToProtoMoney(points, currency);
  b.set_points_used(points_used);
  *b.mutable_shipping_fee() = ToProtoMoney(shipping, currency);
  *b.mutable_payable_total() = ToProtoMoney(fin + shipping, currency);
  return b;
}

}  // namespace

pricing::PricingRequest PricingRequestFor(const ov1::CreateOrderRequest& req,
                                          const std::vector<inventory::v1::Sku>& skus,
                                          const std::string& currency) {
  pricing::PricingRequest pr;
  pr.currency = currency;
  pr.buyer_id = req.buyer_id();
  pr.points_to_use = req.points_to_use();
  for (int i = 0; i < req.items_size(); ++i) {
    pricing::Line line;
    line.line_id = std::to_string(i + 1);
    line.sku_id = req.items(i).sku_id();
    line.merchant_id = skus[i].merchant_id();
    line.unit_price_minor = skus[i].list_price().amount_minor();
    line.quantity = req.items(i).quantity();
    pr.lines.push_back(std::move(line));
  }
  return pr;
}

ov1::PriceBreakdown Breakdown(const pricing::PricingResult& r) {
  ov1::PriceBreakdown b;
  *b.mutable_items_total() = ToProtoMoney(r.base_total, r.currency);
  *b.mutable_activity_discount() = ToProtoMoney(r.activity_discount, r.currency);
  *b.mutable_member_discount() = ToProtoMoney(r.member_discount, r.currency);
  *b.mutable_coupon_discount() = ToProtoMoney(r.coupon_discount, r.currency);
  *b.mutable_points_discount() = ToProtoMoney(r.points_discount, r.currency);
  b.set_points_used(r.points_used);
  *b.mutable_shipping_fee() = ToProtoMoney(r.shipping_fee, r.currency);
  *b.mutable_payable_total() = ToProtoMoney(r.payable_total, r.currency);
  return b;
}

namespace {

ov1::OrderLine LineOf(const ov1::CreateOrderRequest::Item& item, const inventory::v1::Sku& sku,
                      const pricing::LineResult& lr, const std::string& currency) {
  ov1::OrderLine l;
  l.set_line_id(lr.line_id);
  l.set_sku_id(sku.sku_id());
  l.set_product_id(sku.product_id());
  l.set_product_name(sku.product_name());
  for (const auto& [k, v] : sku.specs()) (*l.mutable_specs())[k] = v;
  l.set_merchant_id(sku.merchant_id());
  l.set_warehouse_id(sku.warehouse_id());
  *l.mutable_unit_price() = ToProtoMoney(sku.list_price().amount_minor(), currency);
  l.set_quantity(item.quantity());
  *l.mutable_base_amount() = ToProtoMoney(lr.base_minor, currency);
  *l.mutable_promotion_discount() = ToProtoMoney(lr.promotion_minor, currency);
  *l.mutable_member_discount() = ToProtoMoney(lr.member_minor, currency);
  *l.mutable_coupon_discount() = ToProtoMoney(lr.coupon_minor, currency);
  *l.mutable_points_discount() = ToProtoMoney(lr.points_minor, currency);
  *l.mutable_final_amount() = ToProtoMoney(lr.final_minor, currency);
  return l;
}

// Fulfillment units: one per (merchant, warehouse), in order of first appearance.
struct Units {
  std::vector<std::pair<std::string, std::string>> keys;  // (merchant, warehouse)
  std::vector<size_t> of_line;                            // unit index of each line
};

Units UnitsOf(const std::vector<ov1::OrderLine>& lines) {
  Units units;
  units.of_line.resize(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::pair<std::string, std::string> key{lines[i].merchant_id(), lines[i].warehouse_id()};
    auto it = std::find(units.keys.begin(), units.keys.end(), key);
    if (it == units.keys.end()) {
      units.keys.push_back(key);
      units.of_line[i] = units.keys.size() - 1;
    } else {
      units.of_line[i] = static_cast<size_t>(it - units.keys.begin());
    }
  }
  return units;
}

// What every order of a create starts as: PENDING_PAYMENT at version 1 with its create row.
OrderRecord NewOrder(const PlanInput& in, int64_t id) {
  const ov1::CreateOrderRequest& req = *in.request;
  OrderRecord rec;
  ov1::Order& o = rec.order;
  o.set_order_id(std::to_string(id));
  o.set_buyer_id(req.buyer_id());
  o.set_order_type(in.order_type);
  o.set_status(ov1::ORDER_STATUS_PENDING_PAYMENT);
  *o.mutable_shipping_address() = req.shipping_address();
  o.set_client_note(req.client_note());
  *o.mutable_payment_deadline() = ToProtoTimestamp(in.payment_deadline);
  *o.mutable_created_at() = ToProtoTimestamp(in.now);
  *o.mutable_updated_at() = ToProtoTimestamp(in.now);
  o.set_version(1);
  auto* h = o.add_status_history();
  h->set_from_status(ov1::ORDER_STATUS_UNSPECIFIED);
  h->set_to_status(ov1::ORDER_STATUS_PENDING_PAYMENT);
  h->set_action(kActionCreate);
  *h->mutable_actor() = in.created_by;
  *h->mutable_occurred_at() = ToProtoTimestamp(in.now);
  rec.request_fingerprint = in.request_fingerprint;
  rec.request_id = req.request_id();
  return rec;
}

// The top-level order carries every line, the whole price and the discount lines (whose
// per-line allocations go to plan.allocations).
OrderRecord TopOrder(const PlanInput& in, const Units& units, CreatePlan& plan) {
  const pricing::PricingResult& price = *in.price;
  const bool split = units.keys.size() > 1;
  OrderRecord top = NewOrder(in, in.order_id);
  top.top_level = true;
  top.fulfillment_unit = !split;
  std::set<std::string> merchants;
  for (const auto& u : units.keys) merchants.insert(u.first);
  if (merchants.size() == 1) top.order.set_merchant_id(*merchants.begin());
  if (!split) top.warehouse_id = units.keys[0].second;
  *top.order.mutable_price() = Breakdown(price);
  for (const auto& c : in.request->coupon_ids()) top.order.add_coupon_ids(c);
  for (const auto& l : plan.lines) *top.order.add_lines() = l;
  for (size_t d = 0; d < price.discounts.size(); ++d) {
    const auto& dl = price.discounts[d];
    auto* out = top.order.add_discount_lines();
    out->set_kind(KindOf(dl.kind));
    out->set_source_id(dl.kind == pricing::DiscountKind::kPoints ? "" : dl.source_id);
    *out->mutable_amount() = ToProtoMoney(dl.amount_minor, price.currency);
    auto it = in.descriptions.find(dl.source_id);
    out->set_description(it != in.descriptions.end() && !it->second.empty()
                             ? it->second
                             : std::string(pricing::DiscountKindName(dl.kind)));
    for (const auto& a : dl.allocations) {
      plan.allocations.push_back({static_cast<int>(d), std::stoi(a.line_id), a.amount_minor});
    }
  }
  return top;
}

// One child per fulfillment unit of a split order: its lines, their money share and the
// merchant's shipping fee on its first unit.
absl::Status AddChildren(const PlanInput& in, const Units& units, CreatePlan& plan) {
  const pricing::PricingResult& price = *in.price;
  std::map<std::string, int64_t> shipping_by_merchant;
  for (const auto& s : price.shipping) shipping_by_merchant[s.merchant_id] = s.fee_minor;
  std::set<std::string> shipping_assigned;
  for (size_t u = 0; u < units.keys.size(); ++u) {
    auto child_id = in.next_child_id();
    if (!child_id.ok()) return child_id.status();
    OrderRecord child = NewOrder(in, *child_id);
    child.top_level = false;
    child.fulfillment_unit = true;
    child.order.set_parent_order_id(plan.orders[0].order.order_id());
    child.order.set_merchant_id(units.keys[u].first);
    child.warehouse_id = units.keys[u].second;
    // A merchant's shipping fee goes to its first unit.
    int64_t shipping = 0;
    if (shipping_assigned.insert(units.keys[u].first).second) {
      shipping = shipping_by_merchant[units.keys[u].first];
    }
    std::vector<const ov1::OrderLine*> lines;
    for (size_t i = 0; i < plan.lines.size(); ++i) {
      if (units.of_line[i] == u) {
        lines.push_back(&plan.lines[i]);
        plan.unit_of_line[i] = *child_id;
        *child.order.add_lines() = plan.lines[i];
      }
    }
    // Points used are attributed to the parent only; children show the money share.
    *child.order.mutable_price() = SumLines(lines, shipping, 0, price.currency);
    child.request_id = "";  // only the top-level row carries the request id
    plan.orders[0].order.add_child_order_ids(child.order.order_id());
    plan.orders.push_back(std::move(child));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CreatePlan> BuildCreatePlan(const PlanInput& in) {
  const ov1::CreateOrderRequest& req = *in.request;
  const auto& skus = *in.skus;
  const pricing::PricingResult& price = *in.price;
  if (price.lines.size() != static_cast<size_t>(req.items_size()) ||
      skus.size() != static_cast<size_t>(req.items_size())) {
    return absl::InternalError("pricing result does not match the request lines");
  }
  CreatePlan plan;
  plan.timer_due = in.payment_deadline;
  for (int i = 0; i < req.items_size(); ++i) {
    plan.lines.push_back(LineOf(req.items(i), skus[i], price.lines[i], price.currency));
  }
  const Units units = UnitsOf(plan.lines);
  plan.orders.push_back(TopOrder(in, units, plan));
  plan.unit_of_line.assign(plan.lines.size(), in.order_id);
  if (units.keys.size() > 1) {
    if (auto s = AddChildren(in, units, plan); !s.ok()) return s;
  }
  return plan;
}

}  // namespace orderly::order_core
