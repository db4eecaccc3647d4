#include "orderly/pricing/pricing.hpp"

#include <absl/strings/str_cat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <tuple>
#include <utility>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/money.hpp"
#include "orderly/core/status.hpp"

namespace orderly::pricing {
namespace {

[[noreturn]] void Bug(std::string_view what) {
  std::fprintf(stderr, "orderly::pricing invariant broken: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

std::string Field(std::string_view list, size_t i, std::string_view name) {
  return absl::StrCat(ToAbsl(list), "[", i, "].", ToAbsl(name));
}

void ValidateScope(const Scope& s, const std::string& field, Violations& v) {
  switch (s.kind) {
    case Scope::Kind::kAll: break;
    case Scope::Kind::kSkus:
      if (s.sku_ids.empty()) v.Add(field + ".sku_ids", "must name at least one SKU");
      break;
    case Scope::Kind::kMerchant:
      if (s.merchant_id.empty()) v.Add(field + ".merchant_id", "must not be empty");
      break;
    case Scope::Kind::kCategory:
      if (s.category.empty()) v.Add(field + ".category", "must not be empty");
      break;
  }
}

// Validates the request and computes each line's base amount.
absl::StatusOr<std::vector<int64_t>> ValidateRequest(const PricingRequest& req,
                                                     const PricingRules& rules) {
  Violations v;
  if (!IsSupportedCurrency(req.currency)) {
    v.Add("currency", absl::StrCat("unsupported currency '", req.currency, "'"));
  } else if (req.currency != rules.currency) {
    v.Add("currency", absl::StrCat("no pricing rules for ", req.currency));
  }
  if (req.buyer_id.empty()) v.Add("buyer_id", "must not be empty");
  if (req.lines.empty()) v.Add("lines", "an order needs at least one line");
  if (req.lines.size() > static_cast<size_t>(kMaxLines)) {
    v.Add("lines", absl::StrCat("at most ", kMaxLines, " lines per order"));
  }
  std::vector<int64_t> bases(req.lines.size(), 0);
  std::set<std::string> line_ids;
  int64_t total = 0;
  bool total_overflow = false;
  for (size_t i = 0; i < req.lines.size(); ++i) {
    const Line& l = req.lines[i];
    if (l.line_id.empty()) {
      v.Add(Field("lines", i, "line_id"), "must not be empty");
    } else if (!line_ids.insert(l.line_id).second) {
      v.Add(Field("lines", i, "line_id"), absl::StrCat("duplicate line_id '", l.line_id, "'"));
    }
    if (l.sku_id.empty()) v.Add(Field("lines", i, "sku_id"), "must not be empty");
    if (l.merchant_id.empty()) v.Add(Field("lines", i, "merchant_id"), "must not be empty");
    if (l.unit_price_minor < 0) v.Add(Field("lines", i, "unit_price_minor"), "must be >= 0");
    if (l.quantity <= 0) v.Add(Field("lines", i, "quantity"), "must be >= 1");
    if (l.unit_price_minor < 0 || l.quantity <= 0) continue;
    absl::StatusOr<int64_t> base = CheckedMul(l.unit_price_minor, l.quantity);
    if (!base.ok()) {
      v.Add(Field("lines", i, "quantity"), "unit_price_minor * quantity overflows");
      continue;
    }
    bases[i] = *base;
    absl::StatusOr<int64_t> sum = CheckedAdd(total, *base);
    if (sum.ok()) {
      total = *sum;
    } else {
      total_overflow = true;
    }
  }
  if (total_overflow) v.Add("lines", "the order total overflows");

  std::set<std::string> coupon_ids;
  for (size_t i = 0; i < req.coupons.size(); ++i) {
    const Coupon& c = req.coupons[i];
    if (c.coupon_id.empty()) {
      v.Add(Field("coupons", i, "coupon_id"), "must not be empty");
    } else if (!coupon_ids.insert(c.coupon_id).second) {
      v.Add(Field("coupons", i, "coupon_id"),
            absl::StrCat("coupon '", c.coupon_id, "' chosen twice"));
    }
    if (c.kind == Coupon::Kind::kFixedAmount && c.amount_off_minor <= 0) {
      v.Add(Field("coupons", i, "amount_off_minor"), "must be > 0");
    }
    if (c.kind == Coupon::Kind::kPercent) {
      if (c.percent_bps <= 0 || c.percent_bps > kBpsPerWhole) {
        v.Add(Field("coupons", i, "percent_bps"), "must be between 1 and 10000");
      }
      if (c.max_off_minor < 0) v.Add(Field("coupons", i, "max_off_minor"), "must be >= 0");
    }
    if (c.threshold_minor < 0) v.Add(Field("coupons", i, "threshold_minor"), "must be >= 0");
    if (c.valid_from >= c.valid_to) {
      v.Add(Field("coupons", i, "valid_to"), "must be after valid_from");
    }
    ValidateScope(c.scope, Field("coupons", i, "scope"), v);
  }
  if (req.points_to_use < 0) v.Add("points_to_use", "must be >= 0");
  if (req.points_to_use > 0 && req.points_to_use < rules.points.min_points) {
    v.Add("points_to_use", absl::StrCat("at least ", rules.points.min_points, " points per use"));
  }
  absl::Status s = v.ToStatus("invalid pricing request");
  if (!s.ok()) return s;
  return bases;
}

absl::Status CouponNotUsable(const Coupon& c, std::string_view why) {
  return FailedPreconditionError(
      kCouponNotUsable, c.coupon_id,
      absl::StrCat("coupon ", c.coupon_id, " cannot be used: ", ToAbsl(why)),
      {{"coupon_id", c.coupon_id}, {"why", std::string(why)}});
}

int64_t SpendXOffY(const Promotion& p, int64_t eligible) {
  if (eligible < p.threshold_minor) return 0;
  int64_t times = p.repeat ? eligible / p.threshold_minor : 1;
  if (p.repeat && p.max_repeats > 0) times = std::min<int64_t>(times, p.max_repeats);
  const __int128 off = static_cast<__int128>(times) * p.off_minor;
  return off >= eligible ? eligible : static_cast<int64_t>(off);
}

// amount * bps / 10000 rounded half up, at most max_off (0 = no cap) and at most amount.
int64_t PercentOf(int64_t amount, int32_t bps, int64_t max_off) {
  absl::StatusOr<int64_t> off = MulDivRoundHalfUp(amount, bps, kBpsPerWhole);
  // bps <= 10000 so the result never exceeds amount; a failure here is a bug.
  if (!off.ok()) Bug("percentage of an amount failed");
  int64_t d = std::min(*off, amount);
  if (max_off > 0) d = std::min(d, max_off);
  return d;
}

// The state of the lines while discounts are applied.
class Ledger {
 public:
  Ledger(const PricingRequest& req, const std::vector<int64_t>& bases) : req_(req), left_(bases) {
    lines_.resize(bases.size());
    for (size_t i = 0; i < bases.size(); ++i) {
      lines_[i].line_id = req.lines[i].line_id;
      lines_[i].quantity = req.lines[i].quantity;
      lines_[i].base_minor = bases[i];
    }
  }

  std::vector<size_t> Covered(const Scope& scope) const {
    std::vector<size_t> idx;
    for (size_t i = 0; i < req_.lines.size(); ++i) {
      if (scope.Covers(req_.lines[i])) idx.push_back(i);
    }
    return idx;
  }
  std::vector<size_t> All() const { return Covered(Scope::All()); }

  int64_t Left(const std::vector<size_t>& idx) const {
    int64_t sum = 0;  // bounded by the base total, which was overflow-checked
    for (size_t i : idx) sum += left_[i];
    return sum;
  }
  int64_t LeftOf(size_t i) const { return left_[i]; }

  // Splits `amount` (<= Left(idx)) over idx in proportion to what each line has left.
  void Apply(DiscountKind kind, std::string source_id, int64_t amount,
             const std::vector<size_t>& idx) {
    DiscountLine d{kind, std::move(source_id), amount, {}};
    if (amount > 0) {
      std::vector<int64_t> weights;
      weights.reserve(idx.size());
      for (size_t i : idx) weights.push_back(left_[i]);
      absl::StatusOr<std::vector<int64_t>> shares = Apportion(amount, weights);
      if (!shares.ok()) Bug(absl::StrCat("apportion: ", shares.status().message()));
      for (size_t k = 0; k < idx.size(); ++k) {
        const int64_t share = (*shares)[k];
        if (share == 0) continue;
        const size_t i = idx[k];
        if (share < 0 || share > left_[i]) Bug("a discount share exceeds what its line has left");
        left_[i] -= share;
        Component(lines_[i], kind) += share;
        d.allocations.push_back({lines_[i].line_id, share});
      }
    }
    discounts_.push_back(std::move(d));
  }

  std::vector<LineResult> TakeLines() {
    for (size_t i = 0; i < lines_.size(); ++i) lines_[i].final_minor = left_[i];
    return std::move(lines_);
  }
  std::vector<DiscountLine> TakeDiscounts() { return std::move(discounts_); }

 private:
  static int64_t& Component(LineResult& l, DiscountKind kind) {
    switch (kind) {
      case DiscountKind::kPromotion: return l.promotion_minor;
      case DiscountKind::kMember: return l.member_minor;
      case DiscountKind::kCoupon: return l.coupon_minor;
      case DiscountKind::kPoints: return l.points_minor;
    }
    Bug("unknown discount kind");
  }

  const PricingRequest& req_;
  std::vector<int64_t> left_;
  std::vector<LineResult> lines_;
  std::vector<DiscountLine> discounts_;
};

int64_t PromotionDiscount(const Promotion& p, int64_t eligible) {
  if (eligible <= 0) return 0;
  switch (p.kind) {
    case Promotion::Kind::kSpendXOffY: return SpendXOffY(p, eligible);
    case Promotion::Kind::kPercentOff: return PercentOf(eligible, p.percent_bps, p.max_off_minor);
  }
  return 0;
}

bool Active(TimePoint now, TimePoint from, TimePoint to) { return from <= now && now < to; }

// Step 2. Returns the lines that may not take coupons.
std::vector<bool> ApplyPromotions(const PricingRequest& req, const PricingRules& rules,
                                  Ledger& ledger) {
  std::vector<const Promotion*> active;
  for (const Promotion& p : rules.promotions) {
    if (Active(req.now, p.valid_from, p.valid_to)) active.push_back(&p);
  }
  std::stable_sort(active.begin(), active.end(), [](const Promotion* a, const Promotion* b) {
    return std::tie(a->priority, a->promotion_id) < std::tie(b->priority, b->promotion_id);
  });
  std::vector<bool> no_coupons(req.lines.size(), false);
  std::set<std::string> groups_done;
  for (const Promotion* p : active) {
    const Promotion* chosen = p;
    if (!p->exclusive_group.empty()) {
      if (!groups_done.insert(p->exclusive_group).second) continue;
      // The group's best member for the buyer, on what is left at this point.
      int64_t best = -1;
      for (const Promotion* q : active) {
        if (q->exclusive_group != p->exclusive_group) continue;
        const int64_t d = PromotionDiscount(*q, ledger.Left(ledger.Covered(q->scope)));
        if (d > best) {
          best = d;
          chosen = q;
        }
      }
    }
    const std::vector<size_t> idx = ledger.Covered(chosen->scope);
    const int64_t amount = PromotionDiscount(*chosen, ledger.Left(idx));
    if (amount <= 0) continue;
    ledger.Apply(DiscountKind::kPromotion, chosen->promotion_id, amount, idx);
    if (!chosen->combinable_with_coupons) {
      for (size_t i : idx) no_coupons[i] = true;
    }
  }
  return no_coupons;
}

// Step 4.
absl::Status ApplyCoupons(const PricingRequest& req, const PricingRules& rules,
                          const std::vector<bool>& no_coupons, Ledger& ledger) {
  if (req.coupons.empty()) return absl::OkStatus();
  if (req.coupons.size() > static_cast<size_t>(std::max(rules.max_coupons_per_order, 0))) {
    return CouponNotUsable(req.coupons[std::max(rules.max_coupons_per_order, 0)], kWhyTooMany);
  }
  std::vector<std::vector<size_t>> scopes(req.coupons.size());
  for (size_t k = 0; k < req.coupons.size(); ++k) {
    const Coupon& c = req.coupons[k];
    if (c.owner_id != req.buyer_id) return CouponNotUsable(c, kWhyNotOwner);
    if (c.state != CouponState::kAvailable) return CouponNotUsable(c, kWhyNotAvailable);
    if (req.now < c.valid_from) return CouponNotUsable(c, kWhyNotYetValid);
    if (req.now >= c.valid_to) return CouponNotUsable(c, kWhyExpired);
    for (size_t i : ledger.Covered(c.scope)) {
      if (!no_coupons[i]) scopes[k].push_back(i);
    }
    const int64_t eligible = ledger.Left(scopes[k]);
    if (eligible <= 0) return CouponNotUsable(c, kWhyNotApplicable);
    if (eligible < c.threshold_minor) return CouponNotUsable(c, kWhyThresholdNotMet);
  }
  if (req.coupons.size() > 1) {
    for (const Coupon& c : req.coupons) {
      if (!c.stackable) return CouponNotUsable(c, kWhyNotStackable);
    }
  }
  std::vector<size_t> order(req.coupons.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Coupon& x = req.coupons[a];
    const Coupon& y = req.coupons[b];
    const bool xp = x.kind == Coupon::Kind::kPercent;
    const bool yp = y.kind == Coupon::Kind::kPercent;
    if (xp != yp) return xp;
    return x.coupon_id < y.coupon_id;
  });
  for (size_t k : order) {
    const Coupon& c = req.coupons[k];
    const int64_t eligible = ledger.Left(scopes[k]);
    const int64_t amount = c.kind == Coupon::Kind::kPercent
                               ? PercentOf(eligible, c.percent_bps, c.max_off_minor)
                               : std::min(c.amount_off_minor, eligible);
    // Earlier coupons took everything (or a percentage rounds to nothing): refuse rather than
    // burn the buyer's coupon for 0.
    if (amount <= 0) return CouponNotUsable(c, kWhyNotApplicable);
    ledger.Apply(DiscountKind::kCoupon, c.coupon_id, amount, scopes[k]);
  }
  return absl::OkStatus();
}

// Step 5. Sets points_cap / points_used.
absl::Status ApplyPoints(const PricingRequest& req, const PointsPolicy& policy, Ledger& ledger,
                         PricingResult& result) {
  const std::vector<size_t> all = ledger.All();
  const int64_t goods = ledger.Left(all);
  int64_t step_points = 0;
  int64_t step_minor = 0;
  int64_t cap_points = 0;
  if (policy.rate_points > 0) {
    const int64_t g = std::gcd(policy.rate_points, policy.rate_minor);
    step_points = policy.rate_points / g;
    step_minor = policy.rate_minor / g;
    const __int128 cap_minor =
        static_cast<__int128>(goods) * policy.max_fraction_bps / kBpsPerWhole;  // rounds down
    const __int128 cap = cap_minor / step_minor * step_points;
    cap_points = cap > INT64_MAX ? INT64_MAX : static_cast<int64_t>(cap);
    if (cap_points < policy.min_points) cap_points = 0;
  }
  result.points_cap = cap_points;
  if (req.points_to_use == 0) return absl::OkStatus();
  if (req.points_to_use > cap_points) {
    return ErrorWithInfo(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("points_to_use exceeds the cap ", cap_points), kPointsInsufficient,
        {{"requested", absl::StrCat(req.points_to_use)}, {"available", absl::StrCat(cap_points)}});
  }
  const int64_t steps = req.points_to_use / step_points;  // whole steps only: rounds down
  result.points_used = steps * step_points;
  const int64_t amount = steps * step_minor;  // <= the cap in minor units <= goods
  if (amount > 0) ledger.Apply(DiscountKind::kPoints, "points", amount, all);
  return absl::OkStatus();
}

}  // namespace

bool Scope::Covers(const Line& line) const {
  switch (kind) {
    case Kind::kAll: return true;
    case Kind::kSkus: return sku_ids.count(line.sku_id) > 0;
    case Kind::kMerchant: return line.merchant_id == merchant_id;
    case Kind::kCategory: return line.category.has_value() && *line.category == category;
  }
  return false;
}

std::string_view DiscountKindName(DiscountKind k) {
  switch (k) {
    case DiscountKind::kPromotion: return "promotion";
    case DiscountKind::kMember: return "member";
    case DiscountKind::kCoupon: return "coupon";
    case DiscountKind::kPoints: return "points";
  }
  return "unknown";
}

absl::Status ValidateRules(const PricingRules& rules) {
  Violations v;
  if (!IsSupportedCurrency(rules.currency)) {
    v.Add("currency", absl::StrCat("unsupported currency '", rules.currency, "'"));
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < rules.promotions.size(); ++i) {
    const Promotion& p = rules.promotions[i];
    if (p.promotion_id.empty()) {
      v.Add(Field("promotions", i, "promotion_id"), "must not be empty");
    } else if (!ids.insert(p.promotion_id).second) {
      v.Add(Field("promotions", i, "promotion_id"),
            absl::StrCat("duplicate promotion_id '", p.promotion_id, "'"));
    }
    switch (p.kind) {
      case Promotion::Kind::kSpendXOffY:
        if (p.threshold_minor <= 0) v.Add(Field("promotions", i, "threshold_minor"), "must be > 0");
        if (p.off_minor <= 0) v.Add(Field("promotions", i, "off_minor"), "must be > 0");
        if (p.max_repeats < 0) v.Add(Field("promotions", i, "max_repeats"), "must be >= 0");
        break;
      case Promotion::Kind::kPercentOff:
        if (p.percent_bps <= 0 || p.percent_bps > kBpsPerWhole) {
          v.Add(Field("promotions", i, "percent_bps"), "must be between 1 and 10000");
        }
        if (p.max_off_minor < 0) v.Add(Field("promotions", i, "max_off_minor"), "must be >= 0");
        break;
    }
    if (p.valid_from >= p.valid_to) {
      v.Add(Field("promotions", i, "valid_to"), "must be after valid_from");
    }
    ValidateScope(p.scope, Field("promotions", i, "scope"), v);
  }
  for (const auto& [tier, right] : rules.member_rights) {
    if (right.percent_off_bps < 0 || right.percent_off_bps > kBpsPerWhole) {
      v.Add(absl::StrCat("member_rights[", tier, "].percent_off_bps"),
            "must be between 0 and 10000");
    }
  }
  const PointsPolicy& pts = rules.points;
  if (pts.rate_points < 0 || pts.rate_minor < 0 || (pts.rate_points > 0) != (pts.rate_minor > 0)) {
    v.Add("points.rate_points", "rate_points and rate_minor must both be > 0, or both 0");
  }
  if (pts.max_fraction_bps < 0 || pts.max_fraction_bps > kBpsPerWhole) {
    v.Add("points.max_fraction_bps", "must be between 0 and 10000");
  }
  if (pts.min_points < 0) v.Add("points.min_points", "must be >= 0");
  auto check_shipping = [&v](const ShippingRule& r, const std::string& field) {
    if (r.flat_fee_minor < 0) v.Add(field + ".flat_fee_minor", "must be >= 0");
    if (r.free_over_minor && *r.free_over_minor < 0) {
      v.Add(field + ".free_over_minor", "must be >= 0");
    }
  };
  check_shipping(rules.shipping.default_rule, "shipping.default_rule");
  for (const auto& [merchant, rule] : rules.shipping.by_merchant) {
    check_shipping(rule, absl::StrCat("shipping.by_merchant[", merchant, "]"));
  }
  if (rules.max_coupons_per_order < 0) v.Add("max_coupons_per_order", "must be >= 0");
  return v.ToStatus("invalid pricing rules");
}

absl::StatusOr<PricingResult> PriceOrder(const PricingRequest& request, const PricingRules& rules) {
  if (absl::Status s = ValidateRules(rules); !s.ok()) {
    return absl::InternalError(absl::StrCat("pricing rules are invalid: ", s.message()));
  }
  absl::StatusOr<std::vector<int64_t>> bases = ValidateRequest(request, rules);
  if (!bases.ok()) return bases.status();

  Ledger ledger(request, *bases);
  const std::vector<size_t> all = ledger.All();

  const std::vector<bool> no_coupons = ApplyPromotions(request, rules, ledger);

  if (!request.member_tier.empty()) {
    auto it = rules.member_rights.find(request.member_tier);
    if (it != rules.member_rights.end() && it->second.percent_off_bps > 0) {
      const int64_t amount = PercentOf(ledger.Left(all), it->second.percent_off_bps, 0);
      if (amount > 0) ledger.Apply(DiscountKind::kMember, request.member_tier, amount, all);
    }
  }

  if (absl::Status s = ApplyCoupons(request, rules, no_coupons, ledger); !s.ok()) return s;

  PricingResult result;
  result.currency = request.currency;

  // Shipping is decided before points are spent (points pay; they are not a discount that makes
  // an order lose its free shipping).
  std::map<std::string, int64_t> merchant_goods;
  for (size_t i = 0; i < request.lines.size(); ++i) {
    merchant_goods[request.lines[i].merchant_id] += ledger.LeftOf(i);
  }
  for (const auto& [merchant, goods] : merchant_goods) {
    auto it = rules.shipping.by_merchant.find(merchant);
    const ShippingRule& rule =
        it != rules.shipping.by_merchant.end() ? it->second : rules.shipping.default_rule;
    const bool free = rule.free_over_minor.has_value() && goods >= *rule.free_over_minor;
    const int64_t fee = free ? 0 : rule.flat_fee_minor;
    absl::StatusOr<int64_t> sum = CheckedAdd(result.shipping_fee, fee);
    if (!sum.ok()) return sum.status();
    result.shipping_fee = *sum;
    result.shipping.push_back({merchant, fee});
  }

  if (absl::Status s = ApplyPoints(request, rules.points, ledger, result); !s.ok()) return s;

  result.lines = ledger.TakeLines();
  result.discounts = ledger.TakeDiscounts();
  int64_t goods_payable = 0;
  for (const LineResult& l : result.lines) {
    result.base_total += l.base_minor;
    result.activity_discount += l.promotion_minor;
    result.member_discount += l.member_minor;
    result.coupon_discount += l.coupon_minor;
    result.points_discount += l.points_minor;
    goods_payable += l.final_minor;
  }
  absl::StatusOr<int64_t> payable = CheckedAdd(goods_payable, result.shipping_fee);
  if (!payable.ok()) return payable.status();
  result.payable_total = *payable;

  if (absl::Status s = ValidateResult(result); !s.ok()) Bug(FromAbsl(s.message()));
  return result;
}

}  // namespace orderly::pricing
