#include "orderly/pricing/pricing.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "orderly/core/status.hpp"

namespace orderly::pricing {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::FieldsAre;

const TimePoint kNow = FromUnixMillis(1'767'225'600'000);  // 2026-01-01T00:00:00Z
constexpr auto kDay = std::chrono::hours(24);

Line MakeLine(std::string id, std::string sku, std::string merchant, int64_t unit, int64_t qty) {
  return Line{std::move(id), std::move(sku), std::move(merchant), std::nullopt, unit, qty};
}

Coupon FixedCoupon(std::string id, int64_t off, int64_t threshold = 0) {
  Coupon c;
  c.coupon_id = std::move(id);
  c.owner_id = "buyer-1";
  c.kind = Coupon::Kind::kFixedAmount;
  c.amount_off_minor = off;
  c.threshold_minor = threshold;
  c.valid_from = kNow - kDay;
  c.valid_to = kNow + kDay;
  return c;
}

Coupon PercentCoupon(std::string id, int32_t bps, int64_t max_off = 0) {
  Coupon c = FixedCoupon(std::move(id), 0);
  c.kind = Coupon::Kind::kPercent;
  c.percent_bps = bps;
  c.max_off_minor = max_off;
  return c;
}

Promotion SpendOff(std::string id, int64_t threshold, int64_t off, int32_t priority = 0) {
  Promotion p;
  p.promotion_id = std::move(id);
  p.kind = Promotion::Kind::kSpendXOffY;
  p.threshold_minor = threshold;
  p.off_minor = off;
  p.priority = priority;
  return p;
}

Promotion PercentOff(std::string id, int32_t bps, int32_t priority = 0) {
  Promotion p;
  p.promotion_id = std::move(id);
  p.kind = Promotion::Kind::kPercentOff;
  p.percent_bps = bps;
  p.priority = priority;
  return p;
}

PricingRequest Request(std::vector<Line> lines) {
  PricingRequest r;
  r.currency = "CNY";
  r.lines = std::move(lines);
  r.buyer_id = "buyer-1";
  r.now = kNow;
  return r;
}

PricingRules Rules() {
  PricingRules r;
  r.currency = "CNY";
  r.points = {100, 100, 5000, 0};  // 100 points = 1.00 CNY, at most 50% of the goods
  r.max_coupons_per_order = 2;
  return r;
}

std::string Why(const absl::Status& s) { return ErrorMetadata(s, "why"); }

bool HasViolation(const absl::Status& s, const std::string& field) {
  for (const FieldViolation& v : ErrorFieldViolations(s)) {
    if (v.field == field) return true;
  }
  return false;
}

// The worked example, every figure by hand:
//   L1 120.00 x 2 = 240.00 (M1), L2 45.50 x 1 = 45.50 (M1), L3 33.33 x 3 = 99.99 (M2)
//   base 385.49
//   spend 300 off 30: 30.00 over 24000:4550:9999 (sum 38549)
//     3000*24000/38549 = 1867 r 29017, 3000*4550/38549 = 354 r 3654, 3000*9999/38549 = 778 r 5878
//     2999 handed out, the 1 left goes to the largest remainder (L1): 1868 / 354 / 778
//     left 22132 / 4196 / 9221 = 355.49
//   gold 2%: 355.49 * 2% = 7.1098 -> 7.11 over 22132:4196:9221
//     442 r 23194, 83 r 32789, 184 r 15115; 2 left -> L2 then L1: 443 / 84 / 184
//     left 21689 / 4112 / 9037 = 348.38 (>= 300.00 coupon threshold)
//   coupon 10.00: 623 r 19764, 118 r 1116, 258 r 13958 -> 1 left to L3 (not L2): 623 / 118 / 259
//     left 21066 / 3994 / 8778 = 338.38; points cap 50% = 169.19 = 16919 points
//   500 points = 5.00: 311 r 9382, 59 r 558, 129 r 23898 -> L3: 311 / 59 / 130
//     final 20755 / 3935 / 8648 = 333.38
//   shipping (before points): M1 250.60 >= 99.00 free; M2 87.78 < 199.00 -> 8.00
//   payable 333.38 + 8.00 = 341.38
TEST(PriceOrder, WorkedExampleToTheCent) {
  PricingRequest req =
      Request({MakeLine("L1", "A", "M1", 12000, 2), MakeLine("L2", "B", "M1", 4550, 1),
               MakeLine("L3", "C", "M2", 3333, 3)});
  req.member_tier = "gold";
  req.coupons = {FixedCoupon("C10", 1000, 30000)};
  req.points_to_use = 500;
  PricingRules rules = Rules();
  rules.promotions = {SpendOff("P300", 30000, 3000)};
  rules.member_rights["gold"] = {200};
  rules.shipping.default_rule = {1000, 9900};
  rules.shipping.by_merchant["M2"] = {800, 19900};

  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->currency, "CNY");
  EXPECT_EQ(r->base_total, 38549);
  EXPECT_EQ(r->activity_discount, 3000);
  EXPECT_EQ(r->member_discount, 711);
  EXPECT_EQ(r->coupon_discount, 1000);
  EXPECT_EQ(r->points_discount, 500);
  EXPECT_EQ(r->points_used, 500);
  EXPECT_EQ(r->points_cap, 16919);
  EXPECT_EQ(r->shipping_fee, 800);
  EXPECT_EQ(r->payable_total, 34138);

  EXPECT_THAT(r->lines, ElementsAre(FieldsAre("L1", 2, 24000, 1868, 443, 623, 311, 20755),
                                    FieldsAre("L2", 1, 4550, 354, 84, 118, 59, 3935),
                                    FieldsAre("L3", 3, 9999, 778, 184, 259, 130, 8648)));
  EXPECT_THAT(r->shipping, ElementsAre(FieldsAre("M1", 0), FieldsAre("M2", 800)));

  ASSERT_EQ(r->discounts.size(), 4u);
  EXPECT_EQ(r->discounts[0].kind, DiscountKind::kPromotion);
  EXPECT_EQ(r->discounts[0].source_id, "P300");
  EXPECT_EQ(r->discounts[0].amount_minor, 3000);
  EXPECT_THAT(r->discounts[0].allocations,
              ElementsAre(FieldsAre("L1", 1868), FieldsAre("L2", 354), FieldsAre("L3", 778)));
  EXPECT_EQ(r->discounts[1].kind, DiscountKind::kMember);
  EXPECT_EQ(r->discounts[1].source_id, "gold");
  EXPECT_THAT(r->discounts[1].allocations,
              ElementsAre(FieldsAre("L1", 443), FieldsAre("L2", 84), FieldsAre("L3", 184)));
  EXPECT_EQ(r->discounts[2].kind, DiscountKind::kCoupon);
  EXPECT_EQ(r->discounts[2].source_id, "C10");
  EXPECT_THAT(r->discounts[2].allocations,
              ElementsAre(FieldsAre("L1", 623), FieldsAre("L2", 118), FieldsAre("L3", 259)));
  EXPECT_EQ(r->discounts[3].kind, DiscountKind::kPoints);
  EXPECT_EQ(r->discounts[3].source_id, "points");
  EXPECT_THAT(r->discounts[3].allocations,
              ElementsAre(FieldsAre("L1", 311), FieldsAre("L2", 59), FieldsAre("L3", 130)));
  EXPECT_TRUE(ValidateResult(*r).ok());
}

TEST(PriceOrder, LargestRemainderSplitsOneYuanOverThreeEqualLines) {
  PricingRequest req = Request({MakeLine("a", "A", "M", 100, 1), MakeLine("b", "B", "M", 100, 1),
                                MakeLine("c", "C", "M", 100, 1)});
  req.coupons = {FixedCoupon("C1", 100)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->discounts.size(), 1u);
  EXPECT_THAT(r->discounts[0].allocations,
              ElementsAre(FieldsAre("a", 34), FieldsAre("b", 33), FieldsAre("c", 33)));
  EXPECT_THAT(r->lines,
              ElementsAre(Field(&LineResult::final_minor, 66), Field(&LineResult::final_minor, 67),
                          Field(&LineResult::final_minor, 67)));
  EXPECT_EQ(r->payable_total, 200);
}

// The apportioning rule of the contract (order.proto, OrderLine): each discount is split over its
// scope in proportion to what each line has LEFT at that step, not to its base amount; cents by
// largest remainder, ties to the earlier line. Refunds are computed from these shares.
TEST(PriceOrder, LaterDiscountsAreSplitByWhatEachLineHasLeft) {
  PricingRequest req =
      Request({MakeLine("1", "A", "M", 39900, 1), MakeLine("2", "B", "M", 49900, 1),
               MakeLine("3", "C", "M", 49900, 1)});
  req.lines[1].category = req.lines[2].category = "shoes";
  req.coupons = {FixedCoupon("C80", 8000)};
  PricingRules rules = Rules();
  Promotion shoes = PercentOff("P10", 1000);
  shoes.scope = Scope::Category("shoes");
  rules.promotions = {shoes};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->discounts.size(), 2u);
  EXPECT_THAT(r->discounts[0].allocations, ElementsAre(FieldsAre("2", 4990), FieldsAre("3", 4990)));
  // Left after the promotion: [39900, 44910, 44910]. 8000 by those weights is
  // [2460.68, 2769.66, 2769.66]: floors 7998, the two cents to the largest remainders, the tie
  // to the earlier line. By base amount it would have been [2285, 2858, 2857].
  EXPECT_THAT(r->discounts[1].allocations,
              ElementsAre(FieldsAre("1", 2461), FieldsAre("2", 2770), FieldsAre("3", 2769)));
  EXPECT_THAT(r->lines, ElementsAre(Field(&LineResult::final_minor, 37439),
                                    Field(&LineResult::final_minor, 42140),
                                    Field(&LineResult::final_minor, 42141)));
  EXPECT_EQ(r->payable_total, 37439 + 42140 + 42141);
}

// Why by what is left: a line that already took a large discount never receives more of a later
// one than it still has (by base amount, line 1 would get 25.00 of a 50.00 coupon with 10.00
// left, and a refund of it would pay back more than the buyer paid for it).
TEST(PriceOrder, NoLineReceivesMoreOfADiscountThanItHasLeft) {
  PricingRequest req =
      Request({MakeLine("1", "A", "M", 10000, 1), MakeLine("2", "B", "M", 10000, 1)});
  req.lines[0].category = "clearance";
  req.coupons = {FixedCoupon("C50", 5000)};
  PricingRules rules = Rules();
  Promotion clearance = PercentOff("P90", 9000);
  clearance.scope = Scope::Category("clearance");
  rules.promotions = {clearance};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  // Left [1000, 10000]: 5000 * 1000 / 11000 = 454.5, 5000 * 10000 / 11000 = 4545.5.
  EXPECT_THAT(r->discounts[1].allocations, ElementsAre(FieldsAre("1", 455), FieldsAre("2", 4545)));
  EXPECT_THAT(r->lines, ElementsAre(Field(&LineResult::final_minor, 545),
                                    Field(&LineResult::final_minor, 5455)));
}

TEST(PriceOrder, ExclusiveGroupAppliesOnlyTheBestForTheBuyer) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 50000, 1)});  // 500.00
  PricingRules rules = Rules();
  Promotion spend = SpendOff("spend300off30", 30000, 3000, 1);  // 30.00
  Promotion pct = PercentOff("ten_percent", 1000, 2);           // 50.00: the better one
  Promotion other = SpendOff("spend100off5", 10000, 500, 3);    // not grouped: also applies
  spend.exclusive_group = pct.exclusive_group = "storewide";
  rules.promotions = {spend, pct, other};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->discounts.size(), 2u);
  EXPECT_EQ(r->discounts[0].source_id, "ten_percent");
  EXPECT_EQ(r->discounts[0].amount_minor, 5000);
  EXPECT_EQ(r->discounts[1].source_id, "spend100off5");
  EXPECT_EQ(r->activity_discount, 5500);
  EXPECT_EQ(r->payable_total, 44500);

  // At 250.00 the 300 threshold is not met: 10% (25.00) is the group's best.
  req.lines[0].unit_price_minor = 25000;
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->discounts[0].source_id, "ten_percent");
  EXPECT_EQ(r->discounts[0].amount_minor, 2500);

  // 3% of 400.00 = 12.00 < 30.00: the spend-300-off-30 wins.
  rules.promotions[1].percent_bps = 300;
  req.lines[0].unit_price_minor = 40000;
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->discounts[0].source_id, "spend300off30");
  EXPECT_EQ(r->discounts[0].amount_minor, 3000);
}

TEST(PriceOrder, RepeatingSpendOffIsCapped) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 100000, 1)});  // 1000.00
  PricingRules rules = Rules();
  Promotion p = SpendOff("every200off20", 20000, 2000);
  p.repeat = true;
  p.max_repeats = 3;
  rules.promotions = {p};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->activity_discount, 6000);  // 5 times reached, 3 allowed
  rules.promotions[0].max_repeats = 0;
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->activity_discount, 10000);
}

TEST(PriceOrder, PromotionsRespectScopeWindowAndPriority) {
  PricingRequest req =
      Request({MakeLine("L1", "A", "M1", 10000, 1), MakeLine("L2", "B", "M2", 10000, 1)});
  PricingRules rules = Rules();
  Promotion m1 = PercentOff("m1_half", 5000, 1);
  m1.scope = Scope::Merchant("M1");
  Promotion later = PercentOff("all_10", 1000, 2);
  Promotion expired = PercentOff("expired", 9000, 0);
  expired.valid_to = kNow;  // the end is exclusive
  rules.promotions = {later, expired, m1};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  // m1_half first: L1 100.00 -> 50.00; then 10% of 150.00 = 15.00 split 50:100 -> 5.00 / 10.00.
  ASSERT_EQ(r->discounts.size(), 2u);
  EXPECT_EQ(r->discounts[0].source_id, "m1_half");
  EXPECT_THAT(r->discounts[0].allocations, ElementsAre(FieldsAre("L1", 5000)));
  EXPECT_THAT(r->discounts[1].allocations,
              ElementsAre(FieldsAre("L1", 500), FieldsAre("L2", 1000)));
  EXPECT_EQ(r->payable_total, 4500 + 9000);
}

TEST(PriceOrder, CouponThresholdNotMet) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 29999, 1)});
  req.coupons = {FixedCoupon("C300", 3000, 30000)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(r.status()), "COUPON_NOT_USABLE");
  EXPECT_EQ(ErrorMetadata(r.status(), "coupon_id"), "C300");
  EXPECT_EQ(Why(r.status()), "threshold_not_met");

  req.lines[0].unit_price_minor = 30000;  // exactly the threshold is enough
  r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payable_total, 27000);
}

TEST(PriceOrder, CouponThresholdIsCheckedAfterPromotionsAndMemberRights) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 30500, 1)});  // 305.00
  req.member_tier = "gold";
  req.coupons = {FixedCoupon("C300", 1000, 30000)};
  PricingRules rules = Rules();
  rules.member_rights["gold"] = {200};  // 6.10 off -> 298.90 < 300.00
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  EXPECT_EQ(Why(r.status()), "threshold_not_met");
  req.member_tier = "";
  r = PriceOrder(req, rules);
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(PriceOrder, CouponWindowOwnerAndState) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10000, 1)});
  req.coupons = {FixedCoupon("C", 500)};
  req.coupons[0].valid_to = kNow;  // exclusive end
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "expired");
  req.coupons[0] = FixedCoupon("C", 500);
  req.coupons[0].valid_from = kNow + std::chrono::seconds(1);
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "not_yet_valid");
  req.coupons[0] = FixedCoupon("C", 500);
  req.coupons[0].owner_id = "someone-else";
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "not_owner");
  req.coupons[0] = FixedCoupon("C", 500);
  req.coupons[0].state = CouponState::kFrozen;
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "not_available");
  req.coupons[0].state = CouponState::kUsed;
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "not_available");
  req.coupons[0] = FixedCoupon("C", 500);
  req.coupons[0].scope = Scope::Skus({"other-sku"});
  EXPECT_EQ(Why(PriceOrder(req, Rules()).status()), "not_applicable");
  req.coupons[0].scope = Scope::Skus({"A"});
  EXPECT_TRUE(PriceOrder(req, Rules()).ok());
}

TEST(PriceOrder, NonStackableCouponMustBeAlone) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10000, 1)});
  Coupon lone = FixedCoupon("lone", 500);
  lone.stackable = false;
  req.coupons = {FixedCoupon("other", 300), lone};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Why(r.status()), "not_stackable");
  EXPECT_EQ(ErrorMetadata(r.status(), "coupon_id"), "lone");

  req.coupons = {lone};
  r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->coupon_discount, 500);
}

TEST(PriceOrder, TooManyCoupons) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10000, 1)});
  req.coupons = {FixedCoupon("a", 100), FixedCoupon("b", 100), FixedCoupon("c", 100)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());  // at most 2
  EXPECT_EQ(Why(r.status()), "too_many");
  EXPECT_EQ(ErrorMetadata(r.status(), "coupon_id"), "c");
}

TEST(PriceOrder, PercentCouponsGoBeforeFixedOnes) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10000, 1)});
  req.coupons = {FixedCoupon("fixed", 2000), PercentCoupon("pct", 1000)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  // 10% of 100.00 = 10.00, then 20.00: 30.00 (the other order would give 28.00).
  EXPECT_EQ(r->coupon_discount, 3000);
  EXPECT_EQ(r->discounts[0].source_id, "pct");

  req.coupons = {PercentCoupon("pct", 5000, 1500)};  // 50% capped at 15.00
  r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->coupon_discount, 1500);
}

TEST(PriceOrder, CouponLargerThanTheOrderStopsAtZero) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 300, 1)});
  req.coupons = {FixedCoupon("big", 1000)};
  PricingRules rules = Rules();
  rules.shipping.default_rule = {600, std::nullopt};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->coupon_discount, 300);
  EXPECT_EQ(r->lines[0].final_minor, 0);
  EXPECT_EQ(r->payable_total, 600);  // shipping is never discounted

  // A second coupon with nothing left to take is refused instead of burnt for 0.
  req.coupons.push_back(FixedCoupon("small", 100));
  r = PriceOrder(req, rules);
  EXPECT_EQ(Why(r.status()), "not_applicable");
  EXPECT_EQ(ErrorMetadata(r.status(), "coupon_id"), "small");
}

TEST(PriceOrder, PromotionNotCombinableWithCouponsKeepsItsLinesOutOfCoupons) {
  PricingRequest req =
      Request({MakeLine("L1", "A", "M", 10000, 1), MakeLine("L2", "B", "M", 10000, 1)});
  PricingRules rules = Rules();
  Promotion flash = PercentOff("flash", 2000);
  flash.scope = Scope::Skus({"A"});
  flash.combinable_with_coupons = false;
  rules.promotions = {flash};
  req.coupons = {FixedCoupon("C", 1000)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->lines[0].coupon_minor, 0);
  EXPECT_EQ(r->lines[1].coupon_minor, 1000);

  req.coupons[0].scope = Scope::Skus({"A"});
  EXPECT_EQ(Why(PriceOrder(req, rules).status()), "not_applicable");
}

TEST(PriceOrder, ShippingPerMerchantFreeFromTheThresholdAndPointsDoNotBringItBack) {
  PricingRequest req =
      Request({MakeLine("L1", "A", "M1", 9900, 1), MakeLine("L2", "B", "M2", 5000, 1)});
  PricingRules rules = Rules();
  rules.shipping.default_rule = {1000, 9900};              // free from 99.00
  rules.shipping.by_merchant["M2"] = {600, std::nullopt};  // M2 always charges 6.00
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->shipping, ElementsAre(FieldsAre("M1", 0), FieldsAre("M2", 600)));
  EXPECT_EQ(r->payable_total, 9900 + 5000 + 600);

  req.points_to_use = 2000;  // paying with points keeps M1's free shipping
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shipping_fee, 600);
  EXPECT_EQ(r->payable_total, 9900 + 5000 - 2000 + 600);

  req.points_to_use = 0;
  req.coupons = {FixedCoupon("C", 1)};  // a coupon takes M1 one fen under the threshold
  req.coupons[0].scope = Scope::Merchant("M1");
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->shipping, ElementsAre(FieldsAre("M1", 1000), FieldsAre("M2", 600)));
  EXPECT_EQ(r->payable_total, 9899 + 5000 + 1600);
}

TEST(PriceOrder, PointsOverTheCapAreRefused) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10001, 1)});
  // 50% of 100.01 = 50.005 -> 50.00 (a cap rounds down) = 5000 points.
  req.points_to_use = 5001;
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(r.status()), "POINTS_INSUFFICIENT");
  EXPECT_EQ(ErrorMetadata(r.status(), "available"), "5000");
  EXPECT_EQ(ErrorMetadata(r.status(), "requested"), "5001");
  EXPECT_EQ(r.status().message(), "points_to_use exceeds the cap 5000");

  req.points_to_use = 5000;
  r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_used, 5000);
  EXPECT_EQ(r->points_discount, 5000);
  EXPECT_EQ(r->payable_total, 5001);

  req.points_to_use = 0;  // the frontend asks for the cap
  r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_cap, 5000);
  EXPECT_EQ(r->points_used, 0);
}

TEST(PriceOrder, PointsAreSpentInWholeStepsRoundedDown) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 10000, 1)});
  PricingRules rules = Rules();
  rules.points = {300, 200, 10000, 0};  // 3 points = 2 fen
  req.points_to_use = 100;              // 33 steps = 99 points = 66 fen; 1 point stays unused
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_used, 99);
  EXPECT_EQ(r->points_discount, 66);
  EXPECT_EQ(r->points_cap, 15000);  // 100.00 = 5000 steps of 3 points

  rules.points.min_points = 200;
  r = PriceOrder(req, rules);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(r.status(), "points_to_use"));

  rules.points = {};  // no points at all
  r = PriceOrder(req, rules);
  EXPECT_EQ(ErrorReason(r.status()), "POINTS_INSUFFICIENT");
}

TEST(PriceOrder, ZeroPricedLineTakesNoDiscount) {
  PricingRequest req =
      Request({MakeLine("gift", "G", "M", 0, 1), MakeLine("L1", "A", "M", 999, 3)});
  req.member_tier = "vip";
  req.coupons = {FixedCoupon("C", 100)};
  req.points_to_use = 50;
  PricingRules rules = Rules();
  rules.promotions = {PercentOff("p", 1000)};
  rules.member_rights["vip"] = {500};
  absl::StatusOr<PricingResult> r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->lines[0], FieldsAre("gift", 1, 0, 0, 0, 0, 0, 0));
  // 29.97 - 3.00 (10%, 2.997 rounds up) = 26.97; 5% = 1.3485 -> 1.35; 25.62 - 1.00 - 0.50
  EXPECT_THAT(r->lines[1], FieldsAre("L1", 3, 2997, 300, 135, 100, 50, 2412));
  for (const DiscountLine& d : r->discounts) {
    EXPECT_THAT(d.allocations, ElementsAre(Field(&Allocation::line_id, "L1")));
  }

  // An order of gifts only: nothing to discount, a coupon has nothing to apply to.
  req.lines = {MakeLine("gift", "G", "M", 0, 2)};
  req.points_to_use = 0;
  r = PriceOrder(req, rules);
  EXPECT_EQ(Why(r.status()), "not_applicable");
  req.coupons.clear();
  r = PriceOrder(req, rules);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payable_total, 0);
  EXPECT_TRUE(r->discounts.empty());
}

TEST(PriceOrder, HugeQuantitiesOverflowIntoAFieldViolation) {
  PricingRequest req = Request({MakeLine("L1", "A", "M", 1'000'000'000'000, 10'000'000)});
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(r.status(), "lines[0].quantity"));

  // Each line fits, the sum does not.
  req.lines = {MakeLine("L1", "A", "M", INT64_MAX / 2 + 1, 1),
               MakeLine("L2", "B", "M", INT64_MAX / 2 + 1, 1)};
  r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(r.status(), "lines"));
}

TEST(PriceOrder, MalformedRequestsListEveryViolation) {
  PricingRequest req = Request({});
  req.currency = "XXX";
  req.points_to_use = -1;
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(r.status(), "currency"));
  EXPECT_TRUE(HasViolation(r.status(), "lines"));
  EXPECT_TRUE(HasViolation(r.status(), "points_to_use"));

  req = Request({MakeLine("L1", "A", "M", -1, 0), MakeLine("L1", "", "M", 100, 1)});
  r = PriceOrder(req, Rules());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(r.status(), "lines[0].unit_price_minor"));
  EXPECT_TRUE(HasViolation(r.status(), "lines[0].quantity"));
  EXPECT_TRUE(HasViolation(r.status(), "lines[1].line_id"));
  EXPECT_TRUE(HasViolation(r.status(), "lines[1].sku_id"));

  std::vector<Line> many;
  for (int i = 0; i <= kMaxLines; ++i) {
    many.push_back(MakeLine("L" + std::to_string(i), "A", "M", 1, 1));
  }
  r = PriceOrder(Request(many), Rules());
  EXPECT_TRUE(HasViolation(r.status(), "lines"));
  many.pop_back();
  EXPECT_TRUE(PriceOrder(Request(many), Rules()).ok());

  req = Request({MakeLine("L1", "A", "M", 100, 1)});
  req.currency = "USD";  // supported, but the rules are in CNY
  EXPECT_TRUE(HasViolation(PriceOrder(req, Rules()).status(), "currency"));
}

TEST(PriceOrder, BrokenRulesAreInternalNotTheCallersFault) {
  PricingRules rules = Rules();
  rules.promotions = {PercentOff("p", 10001)};
  EXPECT_TRUE(HasViolation(ValidateRules(rules), "promotions[0].percent_bps"));
  absl::StatusOr<PricingResult> r = PriceOrder(Request({MakeLine("L1", "A", "M", 100, 1)}), rules);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(ValidateRules(Rules()).ok());
}

TEST(ValidateResult, CatchesATamperedResult) {
  PricingRequest req =
      Request({MakeLine("L1", "A", "M", 1000, 1), MakeLine("L2", "B", "M", 2000, 1)});
  req.coupons = {FixedCoupon("C", 301)};
  absl::StatusOr<PricingResult> r = PriceOrder(req, Rules());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(ValidateResult(*r).ok());

  PricingResult bad = *r;
  bad.discounts[0].allocations[0].amount_minor += 1;
  EXPECT_EQ(ValidateResult(bad).code(), absl::StatusCode::kInternal);
  bad = *r;
  bad.payable_total += 1;
  EXPECT_EQ(ValidateResult(bad).code(), absl::StatusCode::kInternal);
  bad = *r;
  bad.lines[0].coupon_minor += 1;
  bad.lines[0].final_minor -= 1;
  bad.lines[1].coupon_minor -= 1;
  bad.lines[1].final_minor += 1;  // totals still add up, but not the allocations
  EXPECT_EQ(ValidateResult(bad).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace orderly::pricing
