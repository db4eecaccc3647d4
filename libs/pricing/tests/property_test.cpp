// Random carts and rules with a fixed seed: whatever the mix, the sums are exact, no line goes
// below zero, and the reported points cap is accepted.
#include <absl/strings/numbers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "orderly/core/status.hpp"
#include "orderly/pricing/pricing.hpp"

namespace orderly::pricing {
namespace {

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(int percent) { return Int(1, 100) <= percent; }
  std::string Pick(std::initializer_list<const char*> xs) {
    return *(xs.begin() + Int(0, static_cast<int64_t>(xs.size()) - 1));
  }

  Scope RandomScope() {
    switch (Int(0, 3)) {
      case 0: return Scope::All();
      case 1: return Scope::Skus({Pick({"S0", "S1", "S2", "S3"}), Pick({"S4", "S5", "S6"})});
      case 2: return Scope::Merchant(Pick({"M1", "M2", "M3"}));
      default: return Scope::Category(Pick({"c0", "c1"}));
    }
  }

 private:
  std::mt19937_64 rng_;
};

struct Case {
  PricingRequest req;
  PricingRules rules;
};

Case RandomCase(Gen& g) {
  Case c;
  c.req.currency = c.rules.currency = "CNY";
  c.req.buyer_id = "buyer";
  const int64_t n = g.Int(1, 8);
  for (int64_t i = 0; i < n; ++i) {
    Line l;
    l.line_id = "L" + std::to_string(i);
    l.sku_id = g.Pick({"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7"});
    l.merchant_id = g.Pick({"M1", "M2", "M3"});
    if (g.Chance(70)) l.category = g.Pick({"c0", "c1", "c2"});
    l.unit_price_minor = g.Chance(10) ? 0 : g.Int(1, 60000);
    l.quantity = g.Int(1, 20);
    c.req.lines.push_back(l);
  }
  const int64_t promos = g.Int(0, 4);
  for (int64_t i = 0; i < promos; ++i) {
    Promotion p;
    p.promotion_id = "P" + std::to_string(i);
    if (g.Chance(50)) {
      p.kind = Promotion::Kind::kSpendXOffY;
      p.threshold_minor = g.Int(1000, 80000);
      p.off_minor = g.Int(1, p.threshold_minor);
      p.repeat = g.Chance(40);
      p.max_repeats = static_cast<int32_t>(g.Int(0, 3));
    } else {
      p.kind = Promotion::Kind::kPercentOff;
      p.percent_bps = static_cast<int32_t>(g.Int(1, kBpsPerWhole));
      if (g.Chance(30)) p.max_off_minor = g.Int(1, 20000);
    }
    p.scope = g.RandomScope();
    p.priority = static_cast<int32_t>(g.Int(0, 3));
    if (g.Chance(40)) p.exclusive_group = g.Pick({"g0", "g1"});
    p.combinable_with_coupons = g.Chance(80);
    c.rules.promotions.push_back(p);
  }
  c.rules.member_rights = {{"silver", {100}}, {"gold", {250}}};
  c.req.member_tier = g.Pick({"", "silver", "gold", "unknown"});
  const int64_t coupons = g.Int(0, 2);
  for (int64_t i = 0; i < coupons; ++i) {
    Coupon k;
    k.coupon_id = "C" + std::to_string(i);
    k.owner_id = "buyer";
    if (g.Chance(60)) {
      k.kind = Coupon::Kind::kFixedAmount;
      k.amount_off_minor = g.Int(1, 30000);
    } else {
      k.kind = Coupon::Kind::kPercent;
      k.percent_bps = static_cast<int32_t>(g.Int(1, 5000));
      if (g.Chance(50)) k.max_off_minor = g.Int(1, 10000);
    }
    k.threshold_minor = g.Chance(50) ? 0 : g.Int(1, 50000);
    k.scope = g.Chance(60) ? Scope::All() : g.RandomScope();
    k.stackable = g.Chance(90);
    c.req.coupons.push_back(k);
  }
  c.rules.max_coupons_per_order = 2;
  switch (g.Int(0, 2)) {
    case 0: c.rules.points = {100, 100, static_cast<int32_t>(g.Int(0, kBpsPerWhole)), 0}; break;
    case 1:
      c.rules.points = {300, 200, static_cast<int32_t>(g.Int(0, kBpsPerWhole)), g.Int(0, 50)};
      break;
    default: c.rules.points = {};
  }
  c.req.points_to_use = g.Chance(50) ? 0 : g.Int(1, 20000);
  std::optional<int64_t> free_over;
  if (g.Chance(50)) free_over = g.Int(0, 100000);
  c.rules.shipping.default_rule = {g.Int(0, 1500), free_over};
  c.rules.shipping.by_merchant["M2"] = {g.Int(0, 1500), std::nullopt};
  return c;
}

// Checked here independently of ValidateResult.
void ExpectInvariants(const Case& c, const PricingResult& r) {
  ASSERT_EQ(r.lines.size(), c.req.lines.size());
  __int128 finals = 0;
  int64_t base = 0;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    const LineResult& l = r.lines[i];
    EXPECT_EQ(l.line_id, c.req.lines[i].line_id);
    EXPECT_EQ(l.base_minor, c.req.lines[i].unit_price_minor * c.req.lines[i].quantity);
    EXPECT_GE(l.final_minor, 0);
    EXPECT_EQ(l.final_minor,
              l.base_minor - l.promotion_minor - l.member_minor - l.coupon_minor - l.points_minor);
    finals += l.final_minor;
    base += l.base_minor;
  }
  EXPECT_EQ(r.base_total, base);
  EXPECT_TRUE(finals + r.shipping_fee == r.payable_total);
  EXPECT_EQ(r.payable_total, r.base_total - r.activity_discount - r.member_discount -
                                 r.coupon_discount - r.points_discount + r.shipping_fee);
  EXPECT_GE(r.payable_total, r.shipping_fee);
  int64_t by_kind[4] = {0, 0, 0, 0};
  for (const DiscountLine& d : r.discounts) {
    int64_t sum = 0;
    for (const Allocation& a : d.allocations) sum += a.amount_minor;
    EXPECT_EQ(sum, d.amount_minor) << d.source_id;
    EXPECT_GT(d.amount_minor, 0) << d.source_id;
    by_kind[static_cast<int>(d.kind)] += d.amount_minor;
  }
  EXPECT_EQ(by_kind[static_cast<int>(DiscountKind::kPromotion)], r.activity_discount);
  EXPECT_EQ(by_kind[static_cast<int>(DiscountKind::kMember)], r.member_discount);
  EXPECT_EQ(by_kind[static_cast<int>(DiscountKind::kCoupon)], r.coupon_discount);
  EXPECT_EQ(by_kind[static_cast<int>(DiscountKind::kPoints)], r.points_discount);
  EXPECT_LE(r.points_used, c.req.points_to_use);
  if (c.rules.points.rate_points > 0) {
    EXPECT_LT(c.req.points_to_use - r.points_used, c.rules.points.rate_points);
    EXPECT_EQ(r.points_discount * c.rules.points.rate_points,
              r.points_used * c.rules.points.rate_minor);
  }
  EXPECT_TRUE(ValidateResult(r).ok());
  // Refunding every unit of every line one by one gives back exactly the goods paid.
  __int128 refunded = 0;
  for (const LineResult& l : r.lines) {
    for (int64_t k = 0; k < l.quantity; ++k) {
      absl::StatusOr<RefundQuote> q = QuoteRefund(r, l.line_id, 1, k);
      ASSERT_TRUE(q.ok()) << q.status();
      refunded += q->amount_minor;
    }
  }
  EXPECT_TRUE(refunded == finals);
}

TEST(PricingProperty, TwoThousandRandomCartsKeepEveryInvariant) {
  Gen g(20260101);
  int ok = 0, coupon_refused = 0, points_capped = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    SCOPED_TRACE(iter);
    Case c = RandomCase(g);
    absl::StatusOr<PricingResult> r = PriceOrder(c.req, c.rules);
    if (!r.ok() && ErrorReason(r.status()) == "POINTS_INSUFFICIENT") {
      ++points_capped;
      // The cap it reports is what the order can take.
      ASSERT_TRUE(absl::SimpleAtoi(ErrorMetadata(r.status(), "available"), &c.req.points_to_use));
      r = PriceOrder(c.req, c.rules);
      if (!r.ok() && c.req.points_to_use == 0) FAIL() << r.status();
    }
    if (!r.ok() && r.status().code() == absl::StatusCode::kInvalidArgument &&
        c.req.points_to_use < c.rules.points.min_points) {
      c.req.points_to_use = 0;  // under the minimum per use
      r = PriceOrder(c.req, c.rules);
    }
    if (!r.ok()) {
      ASSERT_EQ(ErrorReason(r.status()), "COUPON_NOT_USABLE") << r.status();
      ++coupon_refused;
      continue;
    }
    ++ok;
    ExpectInvariants(c, *r);
    if (HasFatalFailure()) return;
  }
  // The generator must exercise the paths, not mostly fail.
  EXPECT_GT(ok, 1000);
  EXPECT_GT(coupon_refused, 50);
  EXPECT_GT(points_capped, 50);
}

}  // namespace
}  // namespace orderly::pricing
