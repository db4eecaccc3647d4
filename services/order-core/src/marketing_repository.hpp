#pragma once
// Promotions, member tiers, coupons and loyalty points in order-core's database, and the pricing
// rules built from them, as a small interface (pg_marketing_repository.* implements it). Coupons
// and points are frozen in the order's own write (OrderRepository::Create, so the freeze commits
// or rolls back with the order), used at payment and returned at cancel (OrderTx).
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orderly/core/clock.hpp"
#include "orderly/pricing/pricing.hpp"

namespace orderly::order_core {

struct PricingRulesSnapshot {
  pricing::PricingRules rules;
  std::map<std::string, std::string> descriptions;  // promotion id / tier -> label
};
using PricingRulesPtr = std::shared_ptr<const PricingRulesSnapshot>;

struct CouponRecord {
  pricing::Coupon coupon;
  std::string state;     // available | frozen | used
  int64_t order_id = 0;  // holder while frozen / used
  std::string description;
};

struct BuyerAccount {
  std::string member_tier;  // "" = none
  int64_t points_balance = 0;
  std::map<std::string, CouponRecord> coupons;  // the requested ids that exist
  bool order_exists = false;                    // the order id asked about is already taken
};

class MarketingRepository {
 public:
  virtual ~MarketingRepository() = default;

  // The pricing rules, re-read from the database at most every rules_ttl.
  virtual absl::StatusOr<PricingRulesPtr> Rules(TimePoint now) = 0;
  virtual void InvalidateRules() = 0;

  // Admin / seed operations (tests, scripts).
  struct CouponSpec {
    std::string coupon_id, owner_id;
    std::string kind = "fixed";  // fixed | percent
    int64_t amount_off = 0;
    int32_t percent_bps = 0;
    int64_t max_off = 0, threshold = 0;
    std::optional<TimePoint> valid_from, valid_to;
    std::string scope_kind = "all";
    std::vector<std::string> scope_values;
    bool stackable = true;
    std::string description;
  };
  virtual absl::Status UpsertCoupon(const CouponSpec& c) = 0;
  struct PromotionSpec {
    std::string promotion_id;
    std::string kind = "spend_x_off_y";  // spend_x_off_y | percent_off
    int64_t threshold = 0, off_amount = 0;
    bool repeat = false;
    int32_t max_repeats = 0, percent_bps = 0;
    int64_t max_off = 0;
    std::string scope_kind = "all";
    std::vector<std::string> scope_values;
    int32_t priority = 0;
    std::string exclusive_group;
    bool combinable_with_coupons = true;
    std::string description;
  };
  virtual absl::Status UpsertPromotion(const PromotionSpec& p) = 0;
  virtual absl::Status SetMemberTier(const std::string& tier, int32_t percent_off_bps) = 0;
  virtual absl::Status SetBuyerTier(const std::string& buyer_id, const std::string& tier) = 0;
  virtual absl::Status SetPoints(const std::string& buyer_id, int64_t balance) = 0;
  virtual absl::Status SetPointsPolicy(int64_t rate_points, int64_t rate_minor,
                                       int32_t max_fraction_bps) = 0;
  virtual absl::Status SetShipping(int64_t flat_fee, std::optional<int64_t> free_over) = 0;

  struct PointsState {
    int64_t balance = 0, frozen = 0;
  };
  virtual absl::StatusOr<PointsState> Points(const std::string& buyer_id) = 0;
  virtual absl::StatusOr<std::string> CouponState(const std::string& coupon_id) = 0;
};
using MarketingRepositoryPtr = std::unique_ptr<MarketingRepository>;

}  // namespace orderly::order_core
