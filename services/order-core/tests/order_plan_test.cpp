// Assembling an order from SKUs and a real pricing result: split by merchant/warehouse, and the
// per-line discount shares that partial refunds rely on (pure).
#include "order_plan.hpp"

#include <gtest/gtest.h>

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace iv1 = ::orderly::inventory::v1;

iv1::Sku Sku(const std::string& id, const std::string& merchant, const std::string& warehouse,
             int64_t price) {
  iv1::Sku s;
  s.set_sku_id(id);
  s.set_product_id("p-" + id);
  s.set_product_name("Product " + id);
  (*s.mutable_specs())["size"] = "M";
  s.set_merchant_id(merchant);
  s.set_warehouse_id(warehouse);
  s.mutable_list_price()->set_amount_minor(price);
  s.mutable_list_price()->set_currency_code("CNY");
  s.set_sale_status(iv1::SKU_SALE_STATUS_ON_SALE);
  return s;
}

struct Fixture {
  ov1::CreateOrderRequest req;
  std::vector<iv1::Sku> skus;
  pricing::PricingRules rules;
  Fixture() {
    req.set_order_id("1000");
    req.set_buyer_id("b1");
    req.set_request_id("r1");
    rules.currency = "CNY";
    rules.shipping.default_rule.flat_fee_minor = 800;
    rules.member_rights["gold"] = {200};
    pricing::Promotion p;
    p.promotion_id = "p-200-30";
    p.threshold_minor = 20000;
    p.off_minor = 3000;
    rules.promotions.push_back(p);
  }
  void Add(iv1::Sku sku, int qty) {
    auto* it = req.add_items();
    it->set_sku_id(sku.sku_id());
    it->set_quantity(qty);
    skus.push_back(std::move(sku));
  }
  absl::StatusOr<CreatePlan> Plan(pricing::PricingResult* out) {
    auto preq = PricingRequestFor(req, skus, "CNY");
    preq.member_tier = "gold";
    auto priced = pricing::PriceOrder(preq, rules);
    if (!priced.ok()) return priced.status();
    *out = *priced;
    PlanInput in;
    in.request = &req;
    in.skus = &skus;
    in.price = out;
    in.order_id = 1000;
    in.descriptions["p-200-30"] = "30 off 200";
    int64_t next = 2000;
    in.next_child_id = [&next]() -> absl::StatusOr<int64_t> { return next++; };
    return BuildCreatePlan(in);
  }
};

TEST(CreatePlan, OneMerchantOneWarehouseIsNotSplit) {
  Fixture f;
  f.Add(Sku("a", "m1", "w1", 12345), 1);
  f.Add(Sku("b", "m1", "w1", 9999), 3);
  pricing::PricingResult price;
  auto plan = f.Plan(&price);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->orders.size(), 1u);
  const auto& top = plan->orders[0];
  EXPECT_TRUE(top.top_level);
  EXPECT_TRUE(top.fulfillment_unit);
  EXPECT_EQ(top.order.merchant_id(), "m1");
  EXPECT_EQ(top.order.lines_size(), 2);
  EXPECT_EQ(top.order.price().payable_total().amount_minor(), price.payable_total);
  // Discounts are apportioned exactly over the lines.
  int64_t finals = 0;
  for (const auto& l : plan->lines) {
    EXPECT_EQ(l.final_amount().amount_minor(),
              l.base_amount().amount_minor() - l.promotion_discount().amount_minor() -
                  l.member_discount().amount_minor() - l.coupon_discount().amount_minor() -
                  l.points_discount().amount_minor());
    finals += l.final_amount().amount_minor();
  }
  EXPECT_EQ(finals + price.shipping_fee, price.payable_total);
  ASSERT_EQ(top.order.discount_lines_size(), 2);  // promotion + member
  EXPECT_EQ(top.order.discount_lines(0).description(), "30 off 200");
  EXPECT_EQ(top.order.discount_lines(0).amount().amount_minor(), 3000);
  int64_t alloc0 = 0;
  for (const auto& a : plan->allocations) {
    if (a.discount_seq == 0) alloc0 += a.amount_minor;
  }
  EXPECT_EQ(alloc0, 3000);
}

TEST(CreatePlan, SplitsByMerchantAndWarehouse) {
  Fixture f;
  f.Add(Sku("a", "m1", "w1", 10000), 1);
  f.Add(Sku("b", "m2", "w9", 5000), 2);
  f.Add(Sku("c", "m1", "w2", 2500), 1);
  f.Add(Sku("d", "m1", "w1", 100), 5);
  pricing::PricingResult price;
  auto plan = f.Plan(&price);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->orders.size(), 4u);  // parent + (m1,w1) + (m2,w9) + (m1,w2)
  const auto& parent = plan->orders[0];
  EXPECT_TRUE(parent.top_level);
  EXPECT_FALSE(parent.fulfillment_unit);
  EXPECT_EQ(parent.order.merchant_id(), "");
  EXPECT_EQ(parent.order.child_order_ids_size(), 3);
  EXPECT_EQ(parent.order.lines_size(), 4);
  int64_t child_total = 0;
  int64_t child_shipping = 0;
  for (size_t i = 1; i < plan->orders.size(); ++i) {
    const auto& c = plan->orders[i];
    EXPECT_FALSE(c.top_level);
    EXPECT_EQ(c.order.parent_order_id(), "1000");
    child_total += c.order.price().payable_total().amount_minor();
    child_shipping += c.order.price().shipping_fee().amount_minor();
  }
  // The parent is the payment unit: its children add up to it exactly.
  EXPECT_EQ(child_total, parent.order.price().payable_total().amount_minor());
  EXPECT_EQ(child_shipping, price.shipping_fee);
  EXPECT_EQ(plan->unit_of_line[0], plan->unit_of_line[3]);  // a and d share (m1, w1)
  EXPECT_NE(plan->unit_of_line[0], plan->unit_of_line[2]);  // c is in m1's other warehouse
  // Line snapshots carry name and specs.
  EXPECT_EQ(plan->lines[1].product_name(), "Product b");
  EXPECT_EQ(plan->lines[1].specs().at("size"), "M");
}

}  // namespace
}  // namespace orderly::order_core
