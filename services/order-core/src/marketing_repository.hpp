#pragma once
// Promotions, member tiers, coupons and loyalty points in order-core's database, and the pricing
// rules built from them. Coupons and points are frozen in the order's own write (order_create,
// migration 0003, so the freeze commits or rolls back with the order), used at payment and
// returned at cancel.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <pqxx/pqxx>

#include "orderly/core/clock.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/pricing/pricing.hpp"

namespace orderly::order_core {

struct PricingRulesSnapshot {
  pricing::PricingRules rules;
  std::map<std::string, std::string> descriptions;  // promotion id / tier -> label
};
using PricingRulesPtr = std::shared_ptr<const PricingRulesSnapshot>;

struct CouponRecord {
  pricing::Coupon coupon;
  std::string state;  // available | frozen | used
  int64_t order_id = 0;  // holder while frozen / used
  std::string description;
};

struct BuyerAccount {
  std::string member_tier;  // "" = none
  int64_t points_balance = 0;
  std::map<std::string, CouponRecord> coupons;  // the requested ids that exist
  bool order_exists = false;                    // LoadBuyer's order_id is already taken
};

class MarketingRepository {
 public:
  MarketingRepository(pg::Pool& pool, std::chrono::milliseconds rules_ttl);

  // The pricing rules, re-read from the database at most every rules_ttl.
  absl::StatusOr<PricingRulesPtr> Rules(TimePoint now);
  void InvalidateRules();

  // Tier, points balance and whether order_id exists in one round trip (CreateOrder's first
  // read: idempotency layer 2 and pricing inputs together), plus one for the requested coupons.
  absl::StatusOr<BuyerAccount> LoadBuyer(pqxx::transaction_base& tx, const std::string& buyer_id,
                                         const std::vector<std::string>& coupon_ids,
                                         int64_t order_id = 0);

  // frozen -> used (payment). Idempotent.
  absl::Status Use(pqxx::transaction_base& tx, int64_t order_id);
  // frozen -> available / returned (cancel). Idempotent; used coupons stay used.
  absl::Status Unfreeze(pqxx::transaction_base& tx, int64_t order_id);

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
  absl::Status UpsertCoupon(const CouponSpec& c);
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
  absl::Status UpsertPromotion(const PromotionSpec& p);
  absl::Status SetMemberTier(const std::string& tier, int32_t percent_off_bps);
  absl::Status SetBuyerTier(const std::string& buyer_id, const std::string& tier);
  absl::Status SetPoints(const std::string& buyer_id, int64_t balance);
  absl::Status SetPointsPolicy(int64_t rate_points, int64_t rate_minor, int32_t max_fraction_bps);
  absl::Status SetShipping(int64_t flat_fee, std::optional<int64_t> free_over);

  struct PointsState {
    int64_t balance = 0, frozen = 0;
  };
  absl::StatusOr<PointsState> Points(const std::string& buyer_id);
  absl::StatusOr<std::string> CouponState(const std::string& coupon_id);

 private:
  absl::StatusOr<PricingRulesPtr> LoadRules();
  pg::Pool& pool_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  PricingRulesPtr rules_;
  TimePoint loaded_at_{};
};

}  // namespace orderly::order_core
