#pragma once
// Order pricing: base price, activity promotions, member rights, coupons, points and shipping,
// in integer minor units. Pure: no I/O, no protos, time comes in the request. order-core maps its
// protos to these structs and stores the result (per-line discount shares are what partial
// refunds are computed from later).
//
// Order of application (each step works on what the previous steps left of every line):
//  1. base       line = unit_price_minor * quantity, order base = sum of lines (overflow-checked).
//  2. promotions active ones (valid_from <= now < valid_to), by ascending priority, ties by id.
//                Each applies to the amount still left on the lines of its scope. An exclusive
//                group applies once, at the position of its first member: every member is
//                evaluated on the amounts left at that point and only the one with the largest
//                discount (ties: first by priority, then id) is applied.
//  3. member     the buyer's tier right, a percentage of the whole amount left after promotions.
//  4. coupons    the buyer's chosen coupons; percentage coupons first (a percentage of the larger
//                amount is the better deal for the buyer), then fixed-amount ones, ties by id.
//                Each coupon's threshold is compared with the amount of its scope after
//                promotions and member rights and before any coupon, so the order of coupons never
//                decides whether one is usable. A line in the scope of a promotion that applied
//                (discount > 0) and is not combinable with coupons is outside every coupon's scope.
//  5. points     at most PointsPolicy::max_fraction_bps of the goods amount left after coupons.
//                Points are spent in whole conversion steps (3 points = 2 fen: steps of 3);
//                points_to_use that is not a whole number of steps is rounded DOWN and
//                points_used tells how many were actually spent.
//  6. shipping   per merchant, added at the end and never discounted; free when the merchant's
//                goods amount after coupons (before points: points are a way to pay, so spending
//                them never brings the fee back) reaches the free-shipping threshold.
//
// Percentages (promotions, member rights, coupons) round half up on the discounted amount; caps
// (points fraction) round down. No discount takes a line below zero: each is capped by what its
// scope has left. Every discount is split over the lines of its scope in proportion to what each
// line has left at that step, by largest remainder (orderly::Apportion), so the shares sum
// exactly to the discount.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "orderly/core/clock.hpp"

namespace orderly::pricing {

inline constexpr int kMaxLines = 100;
inline constexpr int32_t kBpsPerWhole = 10000;  // basis points: 200 bps = 2%

// ErrorInfo reason of FAILED_PRECONDITION for a chosen coupon that cannot be used. Metadata:
// coupon_id and why (one of the kWhy* values below).
inline constexpr std::string_view kCouponNotUsable = "COUPON_NOT_USABLE";
inline constexpr std::string_view kWhyExpired = "expired";
inline constexpr std::string_view kWhyNotYetValid = "not_yet_valid";
inline constexpr std::string_view kWhyNotOwner = "not_owner";
inline constexpr std::string_view kWhyThresholdNotMet = "threshold_not_met";
inline constexpr std::string_view kWhyNotAvailable = "not_available";
inline constexpr std::string_view kWhyNotApplicable = "not_applicable";  // nothing to discount
inline constexpr std::string_view kWhyNotStackable = "not_stackable";
inline constexpr std::string_view kWhyTooMany = "too_many";
// ErrorInfo reason of FAILED_PRECONDITION for points_to_use over PricingResult::points_cap
// (metadata requested, available), as in orderly.common.v1.ErrorReason. The buyer's balance is
// the order service's check.
inline constexpr std::string_view kPointsInsufficient = "POINTS_INSUFFICIENT";

// ---------------------------------------------------------------------------------------------
// Inputs

struct Line {
  std::string line_id;  // unique within the request
  std::string sku_id;
  std::string merchant_id;
  std::optional<std::string> category;
  int64_t unit_price_minor = 0;  // >= 0; 0 is a gift line
  int64_t quantity = 0;          // >= 1
};

// Which lines a promotion or coupon covers.
struct Scope {
  enum class Kind { kAll, kSkus, kMerchant, kCategory };
  Kind kind = Kind::kAll;
  std::set<std::string> sku_ids;  // kSkus
  std::string merchant_id;        // kMerchant
  std::string category;           // kCategory

  static Scope All() { return {}; }
  static Scope Skus(std::set<std::string> skus) { return {Kind::kSkus, std::move(skus), {}, {}}; }
  static Scope Merchant(std::string id) { return {Kind::kMerchant, {}, std::move(id), {}}; }
  static Scope Category(std::string c) { return {Kind::kCategory, {}, {}, std::move(c)}; }
  bool Covers(const Line& line) const;
};

enum class CouponState { kAvailable, kFrozen, kUsed };

struct Coupon {
  enum class Kind { kFixedAmount, kPercent };
  std::string coupon_id;
  std::string owner_id;
  Kind kind = Kind::kFixedAmount;
  int64_t amount_off_minor = 0;  // kFixedAmount, > 0
  int32_t percent_bps = 0;       // kPercent, 1..10000
  int64_t max_off_minor = 0;     // kPercent cap; 0 = uncapped
  int64_t threshold_minor = 0;   // the scope's amount must reach this; 0 = none
  TimePoint valid_from = TimePoint::min();
  TimePoint valid_to = TimePoint::max();  // exclusive
  // The order service owns the state; it passes kAvailable for a coupon frozen by this very order
  // when it re-prices it.
  CouponState state = CouponState::kAvailable;
  Scope scope;
  bool stackable = true;  // false: must be the only coupon of the order
};

struct PricingRequest {
  std::string currency;  // ISO 4217, must equal PricingRules::currency
  std::vector<Line> lines;
  std::string buyer_id;
  std::string member_tier;      // "" or a tier without a MemberRight: no member discount
  std::vector<Coupon> coupons;  // the ones the buyer chose
  int64_t points_to_use = 0;    // >= 0; over PricingResult::points_cap is POINTS_INSUFFICIENT
  TimePoint now;                // injected: coupon and promotion windows are checked against it
};

struct Promotion {
  enum class Kind { kSpendXOffY, kPercentOff };
  std::string promotion_id;
  Kind kind = Kind::kSpendXOffY;
  // kSpendXOffY: off_minor for reaching threshold_minor; with repeat, off_minor for every whole
  // threshold_minor ("every 300 off 30"), at most max_repeats times (0 = no limit).
  int64_t threshold_minor = 0;
  int64_t off_minor = 0;
  bool repeat = false;
  int32_t max_repeats = 0;
  // kPercentOff: percent_bps of the scope's amount, capped at max_off_minor (0 = uncapped).
  int32_t percent_bps = 0;
  int64_t max_off_minor = 0;

  Scope scope;
  int32_t priority = 0;         // lower applies first
  std::string exclusive_group;  // "" = combines with everything
  bool combinable_with_coupons = true;
  TimePoint valid_from = TimePoint::min();
  TimePoint valid_to = TimePoint::max();  // exclusive
};

struct MemberRight {
  int32_t percent_off_bps = 0;  // 200 = 2% off
};

// rate_points points are worth rate_minor minor units: "100 points = 1.00 CNY" is {100, 100}.
// rate_points == 0 disables points.
struct PointsPolicy {
  int64_t rate_points = 0;
  int64_t rate_minor = 0;
  int32_t max_fraction_bps = kBpsPerWhole;  // share of the goods amount points may pay
  int64_t min_points = 0;                   // a non-zero use below this is refused
};

struct ShippingRule {
  int64_t flat_fee_minor = 0;
  std::optional<int64_t> free_over_minor;  // free when the merchant's amount >= this
};

struct ShippingPolicy {
  ShippingRule default_rule;
  std::map<std::string, ShippingRule> by_merchant;  // overrides default_rule
};

struct PricingRules {
  std::string currency;  // the currency every amount in the rules is in
  std::vector<Promotion> promotions;
  std::map<std::string, MemberRight> member_rights;  // by tier
  PointsPolicy points;
  ShippingPolicy shipping;
  int32_t max_coupons_per_order = 1;
};

// ---------------------------------------------------------------------------------------------
// Output

enum class DiscountKind { kPromotion, kMember, kCoupon, kPoints };
std::string_view DiscountKindName(DiscountKind k);  // "promotion", "member", "coupon", "points"

struct Allocation {
  std::string line_id;
  int64_t amount_minor = 0;  // > 0; lines with a zero share are left out
};

struct DiscountLine {
  DiscountKind kind = DiscountKind::kPromotion;
  std::string source_id;  // promotion id, member tier, coupon id, or "points"
  int64_t amount_minor = 0;
  std::vector<Allocation> allocations;  // sums exactly to amount_minor
};

struct LineResult {
  std::string line_id;
  int64_t quantity = 0;
  int64_t base_minor = 0;
  int64_t promotion_minor = 0;
  int64_t member_minor = 0;
  int64_t coupon_minor = 0;
  int64_t points_minor = 0;
  int64_t final_minor = 0;  // base - promotion - member - coupon - points, >= 0
};

struct MerchantShipping {
  std::string merchant_id;
  int64_t fee_minor = 0;
};

struct PricingResult {
  std::string currency;
  int64_t base_total = 0;
  int64_t activity_discount = 0;
  int64_t member_discount = 0;
  int64_t coupon_discount = 0;
  int64_t points_discount = 0;
  int64_t points_used = 0;
  int64_t points_cap = 0;  // the most points this order could take (for the frontend)
  int64_t shipping_fee = 0;
  int64_t payable_total = 0;               // sum of line finals + shipping_fee
  std::vector<LineResult> lines;           // in request order
  std::vector<MerchantShipping> shipping;  // by merchant id
  std::vector<DiscountLine> discounts;     // in order of application
};

// ---------------------------------------------------------------------------------------------
// Operations

// Prices an order. Errors:
//  INVALID_ARGUMENT (BadRequest field violations): malformed request, unsupported currency or one
//    the rules are not in, amounts that overflow, a non-zero points_to_use under min_points.
//  FAILED_PRECONDITION (ErrorInfo COUPON_NOT_USABLE, metadata coupon_id and why): a chosen coupon
//    that cannot be used; the buyer must change the selection. Coupons are checked before points.
//  FAILED_PRECONDITION (ErrorInfo POINTS_INSUFFICIENT, metadata requested and available):
//    points_to_use over points_cap ("points_to_use exceeds the cap N"; the cap is 0 when the
//    policy takes no points).
//  INTERNAL: the rules fail ValidateRules (not the caller's fault; rules are checked on load).
// A result that breaks its own invariants (ValidateResult) is a bug and aborts the process.
absl::StatusOr<PricingResult> PriceOrder(const PricingRequest& request, const PricingRules& rules);

// INVALID_ARGUMENT with field violations for rules that cannot be applied (non-positive
// thresholds, percentages outside 1..10000, bad points rate...). Call when loading rules.
absl::Status ValidateRules(const PricingRules& rules);

// The invariants of a result: every line final >= 0 and equal to base minus its discounts, the
// totals equal the sums over lines, allocations sum to their discount, and the sum of line
// finals plus shipping equals payable_total. INTERNAL naming the first broken one.
absl::Status ValidateResult(const PricingResult& result);

struct RefundQuote {
  std::string line_id;
  int64_t quantity = 0;
  int64_t amount_minor = 0;  // money to pay back: these units' share of the line's final
  int64_t points_minor = 0;  // these units' share of the line's points discount (give back points)
};

// What returning `quantity` units of a line is worth, given `already_refunded` units of it were
// returned before. The line's final (and its points share) is split per unit by largest remainder
// (the extra minor units go to the first units), and units are returned in order, so returning
// every unit, one call at a time or all at once, sums exactly to the line final.
// INVALID_ARGUMENT for an unknown line or a quantity outside 1..(quantity - already_refunded).
absl::StatusOr<RefundQuote> QuoteRefund(const PricingResult& result, std::string_view line_id,
                                        int64_t quantity, int64_t already_refunded = 0);

}  // namespace orderly::pricing
