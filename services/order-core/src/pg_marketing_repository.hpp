#pragma once
// MarketingRepository on PostgreSQL. SQL lives as named constants in pg_marketing_repository.cpp.
#include <chrono>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "marketing_repository.hpp"
#include "orderly/pg/pool.hpp"

namespace orderly::order_core {

class PgMarketingRepository : public MarketingRepository {
 public:
  PgMarketingRepository(pg::Pool& pool, std::chrono::milliseconds rules_ttl);

  absl::StatusOr<PricingRulesPtr> Rules(TimePoint now) override;
  void InvalidateRules() override;

  absl::Status UpsertCoupon(const CouponSpec& c) override;
  absl::Status UpsertPromotion(const PromotionSpec& p) override;
  absl::Status SetMemberTier(const std::string& tier, int32_t percent_off_bps) override;
  absl::Status SetBuyerTier(const std::string& buyer_id, const std::string& tier) override;
  absl::Status SetPoints(const std::string& buyer_id, int64_t balance) override;
  absl::Status SetPointsPolicy(int64_t rate_points, int64_t rate_minor,
                               int32_t max_fraction_bps) override;
  absl::Status SetShipping(int64_t flat_fee, std::optional<int64_t> free_over) override;
  absl::StatusOr<PointsState> Points(const std::string& buyer_id) override;
  absl::StatusOr<std::string> CouponState(const std::string& coupon_id) override;

  // The statements PgOrderRepository runs inside the order's own transaction or round trip.
  // Tier, points balance and whether order_id exists in one round trip, plus one for the
  // requested coupons (only when there are some).
  static absl::StatusOr<BuyerAccount> LoadBuyer(pqxx::transaction_base& tx,
                                                const std::string& buyer_id,
                                                const std::vector<std::string>& coupon_ids,
                                                int64_t order_id);
  // frozen -> used (payment). Idempotent.
  static absl::Status Use(pqxx::transaction_base& tx, int64_t order_id);
  // frozen -> available / returned (cancel). Idempotent; used coupons stay used.
  static absl::Status Unfreeze(pqxx::transaction_base& tx, int64_t order_id);

 private:
  absl::StatusOr<PricingRulesPtr> LoadRules();
  pg::Pool& pool_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  PricingRulesPtr rules_;
  TimePoint loaded_at_{};
};

}  // namespace orderly::order_core
