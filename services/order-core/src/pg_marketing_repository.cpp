#include "pg_marketing_repository.hpp"

#include <absl/strings/str_cat.h>

#include "orderly/core/status.hpp"
#include "orderly/pg/query.hpp"
#include "pg_util.hpp"

namespace orderly::order_core {
namespace {

#define ORDERLY_FINITE_US(col) \
  "CASE WHEN isfinite(" col ") THEN (extract(epoch FROM " col ") * 1000000)::bigint END"

const pg::Query kSettingsSql{"order.settings", R"sql(
SELECT currency, points_rate_points, points_rate_minor, points_max_fraction_bps, points_min,
       shipping_flat_fee, shipping_free_over, max_coupons_per_order
FROM pricing_settings WHERE id = 1)sql"};
const pg::Query kShippingRulesSql{"order.shipping_rules",
                                  "SELECT merchant_id, flat_fee, free_over FROM shipping_rules"};
const pg::Query kTiersSql{"order.tiers",
                          "SELECT tier, percent_off_bps, description FROM member_tiers"};
const pg::Query kPromotionsSql{
    "order.promotions",
    "SELECT promotion_id, kind, threshold, off_amount, repeat, max_repeats, percent_bps, max_off, "
    "scope_kind, array_to_string(scope_values, chr(31)), priority, exclusive_group, "
    "combinable_with_coupons, " ORDERLY_FINITE_US("valid_from") ", " ORDERLY_FINITE_US(
        "valid_to") ", description FROM promotions WHERE active ORDER BY priority, promotion_id"};

const pg::Query kBuyerSql{"order.buyer", R"sql(
SELECT (SELECT tier FROM buyer_memberships WHERE buyer_id = $1),
       (SELECT balance FROM points_accounts WHERE buyer_id = $1),
       EXISTS (SELECT 1 FROM orders WHERE order_id = $2::bigint))sql"};
const pg::Query kCouponsSql{"order.coupons", "SELECT coupon_id, owner_id, kind, amount_off, percent_bps, max_off, threshold, " ORDERLY_FINITE_US(
        "valid_from") ", " ORDERLY_FINITE_US("valid_to") ", state, scope_kind, "
    "array_to_string(scope_values, chr(31)), stackable, COALESCE(order_id, 0), description "
    "FROM coupons WHERE coupon_id = ANY($1::text[])"};

const pg::Query kUseSql{"order.use", R"sql(
WITH c AS (UPDATE coupons SET state = 'used', updated_at = now()
           WHERE order_id = $1 AND state = 'frozen'),
     h AS (UPDATE points_holds SET state = 'used' WHERE order_id = $1 AND state = 'frozen'
           RETURNING buyer_id, points)
UPDATE points_accounts a SET frozen = a.frozen - h.points FROM h WHERE a.buyer_id = h.buyer_id)sql"};
const pg::Query kUnfreezeSql{"order.unfreeze", R"sql(
WITH c AS (UPDATE coupons SET state = 'available', order_id = NULL, updated_at = now()
           WHERE order_id = $1 AND state = 'frozen'),
     h AS (UPDATE points_holds SET state = 'returned' WHERE order_id = $1 AND state = 'frozen'
           RETURNING buyer_id, points)
UPDATE points_accounts a SET frozen = a.frozen - h.points, balance = a.balance + h.points
FROM h WHERE a.buyer_id = h.buyer_id)sql"};

const pg::Query kUpsertCouponSql{"order.upsert_coupon", R"sql(
INSERT INTO coupons (coupon_id, owner_id, kind, amount_off, percent_bps, max_off, threshold,
                     valid_from, valid_to, scope_kind, scope_values, stackable, description)
VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE(NULLIF($8, '')::timestamptz, '-infinity'),
        COALESCE(NULLIF($9, '')::timestamptz, 'infinity'), $10, $11::text[], $12, $13)
ON CONFLICT (coupon_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, kind = EXCLUDED.kind,
  amount_off = EXCLUDED.amount_off, percent_bps = EXCLUDED.percent_bps,
  max_off = EXCLUDED.max_off, threshold = EXCLUDED.threshold, valid_from = EXCLUDED.valid_from,
  valid_to = EXCLUDED.valid_to, scope_kind = EXCLUDED.scope_kind,
  scope_values = EXCLUDED.scope_values, stackable = EXCLUDED.stackable,
  description = EXCLUDED.description, updated_at = now())sql"};
const pg::Query kUpsertPromotionSql{"order.upsert_promotion", R"sql(
INSERT INTO promotions (promotion_id, kind, threshold, off_amount, repeat, max_repeats,
                        percent_bps, max_off, scope_kind, scope_values, priority, exclusive_group,
                        combinable_with_coupons, description)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11, $12, $13, $14)
ON CONFLICT (promotion_id) DO UPDATE SET kind = EXCLUDED.kind, threshold = EXCLUDED.threshold,
  off_amount = EXCLUDED.off_amount, repeat = EXCLUDED.repeat, max_repeats = EXCLUDED.max_repeats,
  percent_bps = EXCLUDED.percent_bps, max_off = EXCLUDED.max_off,
  scope_kind = EXCLUDED.scope_kind, scope_values = EXCLUDED.scope_values,
  priority = EXCLUDED.priority, exclusive_group = EXCLUDED.exclusive_group,
  combinable_with_coupons = EXCLUDED.combinable_with_coupons,
  description = EXCLUDED.description, active = true)sql"};
const pg::Query kUpsertTierSql{"order.upsert_tier", R"sql(
INSERT INTO member_tiers (tier, percent_off_bps) VALUES ($1, $2)
ON CONFLICT (tier) DO UPDATE SET percent_off_bps = EXCLUDED.percent_off_bps)sql"};
const pg::Query kSetBuyerTierSql{"order.set_buyer_tier", R"sql(
INSERT INTO buyer_memberships (buyer_id, tier) VALUES ($1, $2)
ON CONFLICT (buyer_id) DO UPDATE SET tier = EXCLUDED.tier)sql"};
const pg::Query kSetPointsSql{"order.set_points", R"sql(
INSERT INTO points_accounts (buyer_id, balance) VALUES ($1, $2)
ON CONFLICT (buyer_id) DO UPDATE SET balance = EXCLUDED.balance)sql"};
const pg::Query kSetPointsPolicySql{
    "order.set_points_policy",
    "UPDATE pricing_settings SET points_rate_points = $1, points_rate_minor = $2, "
    "points_max_fraction_bps = $3 WHERE id = 1"};
const pg::Query kSetShippingSql{
    "order.set_shipping",
    "UPDATE pricing_settings SET shipping_flat_fee = $1, shipping_free_over = NULLIF($2, -1) "
    "WHERE id = 1"};
const pg::Query kPointsSql{"order.points",
                           "SELECT balance, frozen FROM points_accounts WHERE buyer_id = $1"};
const pg::Query kCouponStateSql{"order.coupon_state",
                                "SELECT state FROM coupons WHERE coupon_id = $1"};

TimePoint TimeOr(const pqxx::field& f, TimePoint fallback) {
  return f.is_null() ? fallback : FromUnixMicros(f.as<int64_t>());
}

pricing::Scope ScopeOf(const std::string& kind, const std::string& values) {
  auto list = SplitUnitSeparated(values);
  if (kind == "skus") return pricing::Scope::Skus({list.begin(), list.end()});
  if (kind == "merchant") return pricing::Scope::Merchant(list.empty() ? "" : list[0]);
  return pricing::Scope::All();
}

absl::Status Exec(pg::Pool& pool, const std::function<void(pqxx::transaction_base&)>& fn) {
  return pool.InTransaction([&](pqxx::transaction_base& tx) {
    fn(tx);
    return absl::OkStatus();
  });
}

}  // namespace

PgMarketingRepository::PgMarketingRepository(pg::Pool& pool, std::chrono::milliseconds rules_ttl)
    : pool_(pool), ttl_(rules_ttl) {}

void PgMarketingRepository::InvalidateRules() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.reset();
}

absl::StatusOr<PricingRulesPtr> PgMarketingRepository::Rules(TimePoint now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rules_ && now - loaded_at_ < ttl_ && now >= loaded_at_) return rules_;
  }
  auto loaded = LoadRules();
  if (!loaded.ok()) return loaded.status();
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = *loaded;
  loaded_at_ = now;
  return rules_;
}

absl::StatusOr<PricingRulesPtr> PgMarketingRepository::LoadRules() {
  auto snap = std::make_shared<PricingRulesSnapshot>();
  pricing::PricingRules& r = snap->rules;
  absl::Status s = pool_.InTransaction([&](pqxx::transaction_base& tx) {
    auto settings = pg::Exec(tx, kSettingsSql);
    if (settings.empty()) return absl::InternalError("pricing_settings row missing");
    const auto& row = settings[0];
    r.currency = row[0].c_str();
    r.points.rate_points = row[1].as<int64_t>();
    r.points.rate_minor = row[2].as<int64_t>();
    r.points.max_fraction_bps = row[3].as<int32_t>();
    r.points.min_points = row[4].as<int64_t>();
    r.shipping.default_rule.flat_fee_minor = row[5].as<int64_t>();
    if (!row[6].is_null()) r.shipping.default_rule.free_over_minor = row[6].as<int64_t>();
    r.max_coupons_per_order = row[7].as<int32_t>();
    for (const auto& sr : pg::Exec(tx, kShippingRulesSql)) {
      pricing::ShippingRule rule;
      rule.flat_fee_minor = sr[1].as<int64_t>();
      if (!sr[2].is_null()) rule.free_over_minor = sr[2].as<int64_t>();
      r.shipping.by_merchant[sr[0].c_str()] = rule;
    }
    for (const auto& tr : pg::Exec(tx, kTiersSql)) {
      r.member_rights[tr[0].c_str()] = pricing::MemberRight{tr[1].as<int32_t>()};
      snap->descriptions[tr[0].c_str()] = tr[2].c_str();
    }
    for (const auto& pr : pg::Exec(tx, kPromotionsSql)) {
      pricing::Promotion p;
      p.promotion_id = pr[0].c_str();
      p.kind = std::string(pr[1].c_str()) == "percent_off" ? pricing::Promotion::Kind::kPercentOff
                                                           : pricing::Promotion::Kind::kSpendXOffY;
      p.threshold_minor = pr[2].as<int64_t>();
      p.off_minor = pr[3].as<int64_t>();
      p.repeat = pr[4].as<bool>();
      p.max_repeats = pr[5].as<int32_t>();
      p.percent_bps = pr[6].as<int32_t>();
      p.max_off_minor = pr[7].as<int64_t>();
      p.scope = ScopeOf(pr[8].c_str(), pr[9].c_str());
      p.priority = pr[10].as<int32_t>();
      p.exclusive_group = pr[11].c_str();
      p.combinable_with_coupons = pr[12].as<bool>();
      p.valid_from = TimeOr(pr[13], TimePoint::min());
      p.valid_to = TimeOr(pr[14], TimePoint::max());
      snap->descriptions[p.promotion_id] = pr[15].c_str();
      r.promotions.push_back(std::move(p));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (auto v = pricing::ValidateRules(r); !v.ok()) {
    return absl::InternalError(
        absl::StrCat("pricing rules in the database are invalid: ", v.ToString()));
  }
  return PricingRulesPtr(std::move(snap));
}

absl::StatusOr<BuyerAccount> PgMarketingRepository::LoadBuyer(
    pqxx::transaction_base& tx, const std::string& buyer_id,
    const std::vector<std::string>& coupon_ids, int64_t order_id) {
  BuyerAccount acc;
  try {
    const pqxx::row row = pg::Exec1(tx, kBuyerSql, buyer_id, order_id);
    acc.order_exists = row[2].as<bool>();
    if (!row[0].is_null()) acc.member_tier = row[0].c_str();
    if (!row[1].is_null()) acc.points_balance = row[1].as<int64_t>();
    if (!coupon_ids.empty()) {
      for (const auto& cr : pg::Exec(tx, kCouponsSql, pg::TextArray(coupon_ids))) {
        CouponRecord rec;
        pricing::Coupon& c = rec.coupon;
        c.coupon_id = cr[0].c_str();
        c.owner_id = cr[1].c_str();
        c.kind = std::string(cr[2].c_str()) == "percent" ? pricing::Coupon::Kind::kPercent
                                                         : pricing::Coupon::Kind::kFixedAmount;
        c.amount_off_minor = cr[3].as<int64_t>();
        c.percent_bps = cr[4].as<int32_t>();
        c.max_off_minor = cr[5].as<int64_t>();
        c.threshold_minor = cr[6].as<int64_t>();
        c.valid_from = TimeOr(cr[7], TimePoint::min());
        c.valid_to = TimeOr(cr[8], TimePoint::max());
        rec.state = cr[9].c_str();
        c.state = rec.state == "available" ? pricing::CouponState::kAvailable
                  : rec.state == "frozen"  ? pricing::CouponState::kFrozen
                                           : pricing::CouponState::kUsed;
        c.scope = ScopeOf(cr[10].c_str(), cr[11].c_str());
        c.stackable = cr[12].as<bool>();
        rec.order_id = cr[13].as<int64_t>();
        rec.description = cr[14].c_str();
        acc.coupons[c.coupon_id] = std::move(rec);
      }
    }
    return acc;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgMarketingRepository::Use(pqxx::transaction_base& tx, int64_t order_id) {
  try {
    pg::Exec(tx, kUseSql, order_id);
    return absl::OkStatus();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgMarketingRepository::Unfreeze(pqxx::transaction_base& tx, int64_t order_id) {
  try {
    pg::Exec(tx, kUnfreezeSql, order_id);
    return absl::OkStatus();
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

absl::Status PgMarketingRepository::UpsertCoupon(const CouponSpec& c) {
  return Exec(pool_, [&](pqxx::transaction_base& tx) {
    pg::Exec(tx, kUpsertCouponSql, c.coupon_id, c.owner_id, c.kind, c.amount_off, c.percent_bps,
             c.max_off, c.threshold, c.valid_from ? PgTime(*c.valid_from) : "",
             c.valid_to ? PgTime(*c.valid_to) : "", c.scope_kind, pg::TextArray(c.scope_values),
             c.stackable, c.description);
  });
}

absl::Status PgMarketingRepository::UpsertPromotion(const PromotionSpec& p) {
  auto s = Exec(pool_, [&](pqxx::transaction_base& tx) {
    pg::Exec(tx, kUpsertPromotionSql, p.promotion_id, p.kind, p.threshold, p.off_amount, p.repeat,
             p.max_repeats, p.percent_bps, p.max_off, p.scope_kind, pg::TextArray(p.scope_values),
             p.priority, p.exclusive_group, p.combinable_with_coupons, p.description);
  });
  InvalidateRules();
  return s;
}

absl::Status PgMarketingRepository::SetMemberTier(const std::string& tier, int32_t bps) {
  auto s =
      Exec(pool_, [&](pqxx::transaction_base& tx) { pg::Exec(tx, kUpsertTierSql, tier, bps); });
  InvalidateRules();
  return s;
}

absl::Status PgMarketingRepository::SetBuyerTier(const std::string& buyer_id,
                                                 const std::string& tier) {
  return Exec(pool_,
              [&](pqxx::transaction_base& tx) { pg::Exec(tx, kSetBuyerTierSql, buyer_id, tier); });
}

absl::Status PgMarketingRepository::SetPoints(const std::string& buyer_id, int64_t balance) {
  return Exec(pool_,
              [&](pqxx::transaction_base& tx) { pg::Exec(tx, kSetPointsSql, buyer_id, balance); });
}

absl::Status PgMarketingRepository::SetPointsPolicy(int64_t rate_points, int64_t rate_minor,
                                                    int32_t max_fraction_bps) {
  auto s = Exec(pool_, [&](pqxx::transaction_base& tx) {
    pg::Exec(tx, kSetPointsPolicySql, rate_points, rate_minor, max_fraction_bps);
  });
  InvalidateRules();
  return s;
}

absl::Status PgMarketingRepository::SetShipping(int64_t flat_fee,
                                                std::optional<int64_t> free_over) {
  auto s = Exec(pool_, [&](pqxx::transaction_base& tx) {
    pg::Exec(tx, kSetShippingSql, flat_fee, free_over.value_or(-1));
  });
  InvalidateRules();
  return s;
}

absl::StatusOr<MarketingRepository::PointsState> PgMarketingRepository::Points(
    const std::string& buyer_id) {
  PointsState out;
  auto s = Exec(pool_, [&](pqxx::transaction_base& tx) {
    auto res = pg::Exec(tx, kPointsSql, buyer_id);
    if (!res.empty()) out = {res[0][0].as<int64_t>(), res[0][1].as<int64_t>()};
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> PgMarketingRepository::CouponState(const std::string& coupon_id) {
  std::string out;
  auto s = Exec(pool_, [&](pqxx::transaction_base& tx) {
    auto res = pg::Exec(tx, kCouponStateSql, coupon_id);
    if (!res.empty()) out = res[0][0].c_str();
  });
  if (!s.ok()) return s;
  if (out.empty()) return absl::NotFoundError("no such coupon");
  return out;
}

}  // namespace orderly::order_core
