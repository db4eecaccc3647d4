// Checks on a stored result and what its lines are worth when units come back.
#include <absl/strings/str_cat.h>

#include <algorithm>
#include <array>
#include <map>

#include "orderly/core/absl_compat.hpp"
#include "orderly/core/status.hpp"
#include "orderly/pricing/pricing.hpp"

namespace orderly::pricing {
namespace {

absl::Status Broken(std::string_view what) {
  return absl::InternalError(absl::StrCat("pricing result invariant broken: ", ToAbsl(what)));
}

// Units [from, from + count) of a line whose `total` is split over `units` by largest remainder
// with equal weights: every unit gets total / units and the first total % units get one more,
// exactly what orderly::Apportion(total, {1, 1, ...}) gives, without a vector per unit.
int64_t UnitsShare(int64_t total, int64_t units, int64_t from, int64_t count) {
  const int64_t each = total / units;
  const int64_t extra_units = total % units;
  const int64_t extra = std::max<int64_t>(0, std::min(from + count, extra_units) - from);
  return each * count + extra;  // <= total: no overflow
}

}  // namespace

absl::Status ValidateResult(const PricingResult& r) {
  // __int128 sums: a corrupt stored result must be reported, not overflow.
  __int128 base = 0, promotion = 0, member = 0, coupon = 0, points = 0, finals = 0;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    const LineResult& l = r.lines[i];
    if (!index.emplace(l.line_id, i).second) {
      return Broken(absl::StrCat("duplicate line ", l.line_id));
    }
    if (l.final_minor < 0) return Broken(absl::StrCat("line ", l.line_id, " final < 0"));
    if (l.base_minor < 0 || l.promotion_minor < 0 || l.member_minor < 0 || l.coupon_minor < 0 ||
        l.points_minor < 0) {
      return Broken(absl::StrCat("line ", l.line_id, " has a negative amount"));
    }
    const __int128 expected = static_cast<__int128>(l.base_minor) - l.promotion_minor -
                              l.member_minor - l.coupon_minor - l.points_minor;
    if (expected != l.final_minor) {
      return Broken(absl::StrCat("line ", l.line_id, " final != base - discounts"));
    }
    base += l.base_minor;
    promotion += l.promotion_minor;
    member += l.member_minor;
    coupon += l.coupon_minor;
    points += l.points_minor;
    finals += l.final_minor;
  }
  if (base != r.base_total) return Broken("base_total != sum of line bases");
  if (promotion != r.activity_discount) return Broken("activity_discount != sum over lines");
  if (member != r.member_discount) return Broken("member_discount != sum over lines");
  if (coupon != r.coupon_discount) return Broken("coupon_discount != sum over lines");
  if (points != r.points_discount) return Broken("points_discount != sum over lines");

  // Allocations per (line, kind) must rebuild every line's discount columns.
  std::vector<std::array<__int128, 4>> allocated(r.lines.size(), {0, 0, 0, 0});
  for (const DiscountLine& d : r.discounts) {
    if (d.amount_minor < 0) return Broken(absl::StrCat("discount ", d.source_id, " < 0"));
    __int128 sum = 0;
    for (const Allocation& a : d.allocations) {
      auto it = index.find(a.line_id);
      if (it == index.end()) {
        return Broken(absl::StrCat("discount ", d.source_id, " names unknown line ", a.line_id));
      }
      if (a.amount_minor <= 0) {
        return Broken(absl::StrCat("discount ", d.source_id, " has a non-positive allocation"));
      }
      sum += a.amount_minor;
      allocated[it->second][static_cast<size_t>(d.kind)] += a.amount_minor;
    }
    if (sum != d.amount_minor) {
      return Broken(absl::StrCat("allocations of ", d.source_id, " do not sum to its amount"));
    }
  }
  for (size_t i = 0; i < r.lines.size(); ++i) {
    const LineResult& l = r.lines[i];
    const auto& a = allocated[i];
    if (a[static_cast<size_t>(DiscountKind::kPromotion)] != l.promotion_minor ||
        a[static_cast<size_t>(DiscountKind::kMember)] != l.member_minor ||
        a[static_cast<size_t>(DiscountKind::kCoupon)] != l.coupon_minor ||
        a[static_cast<size_t>(DiscountKind::kPoints)] != l.points_minor) {
      return Broken(absl::StrCat("line ", l.line_id, " columns != its allocations"));
    }
  }

  __int128 shipping = 0;
  for (const MerchantShipping& m : r.shipping) {
    if (m.fee_minor < 0) return Broken(absl::StrCat("shipping of ", m.merchant_id, " < 0"));
    shipping += m.fee_minor;
  }
  if (shipping != r.shipping_fee) return Broken("shipping_fee != sum over merchants");
  if (finals + r.shipping_fee != r.payable_total) {
    return Broken("payable_total != sum of line finals + shipping_fee");
  }
  if (r.points_used < 0 || r.points_used > r.points_cap) return Broken("points_used outside cap");
  return absl::OkStatus();
}

absl::StatusOr<RefundQuote> QuoteRefund(const PricingResult& result, std::string_view line_id,
                                        int64_t quantity, int64_t already_refunded) {
  const LineResult* line = nullptr;
  for (const LineResult& l : result.lines) {
    if (l.line_id == line_id) line = &l;
  }
  if (line == nullptr) {
    return InvalidArgumentError(
        "unknown line",
        {{"line_id", absl::StrCat("no line '", ToAbsl(line_id), "' in the order")}});
  }
  Violations v;
  if (already_refunded < 0 || already_refunded > line->quantity) {
    v.Add("already_refunded", absl::StrCat("must be between 0 and ", line->quantity));
  } else if (quantity < 1 || quantity > line->quantity - already_refunded) {
    v.Add("quantity", absl::StrCat("must be between 1 and ", line->quantity - already_refunded));
  }
  if (absl::Status s = v.ToStatus("invalid refund quantity"); !s.ok()) return s;
  RefundQuote q;
  q.line_id = line->line_id;
  q.quantity = quantity;
  q.amount_minor = UnitsShare(line->final_minor, line->quantity, already_refunded, quantity);
  q.points_minor = UnitsShare(line->points_minor, line->quantity, already_refunded, quantity);
  return q;
}

}  // namespace orderly::pricing
