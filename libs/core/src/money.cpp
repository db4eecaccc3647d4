#include "orderly/core/money.hpp"

#include <absl/strings/str_cat.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "orderly/core/absl_compat.hpp"

namespace orderly {
namespace {

struct CurrencyInfo {
  std::string_view code;
  int exponent;
};

// ISO 4217 minor-unit exponents of the currencies Orderly settles in.
constexpr CurrencyInfo kCurrencies[] = {
    {"CNY", 2}, {"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"JPY", 0}, {"KRW", 0},
    {"HKD", 2}, {"SGD", 2}, {"AUD", 2}, {"CAD", 2}, {"CHF", 2}, {"TWD", 2},
};

absl::Status Mismatch(const Money& a, const Money& b) {
  return absl::InvalidArgumentError(
      absl::StrCat("currency mismatch: ", a.currency, " vs ", b.currency));
}

absl::Status Overflow(std::string_view what) {
  return absl::OutOfRangeError(absl::StrCat("money overflow in ", ToAbsl(what)));
}

bool FitsInt64(__int128 v) { return v >= INT64_MIN && v <= INT64_MAX; }

}  // namespace

absl::StatusOr<int> CurrencyExponent(std::string_view currency) {
  for (const CurrencyInfo& c : kCurrencies) {
    if (c.code == currency) return c.exponent;
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported currency '", ToAbsl(currency), "'"));
}

bool IsSupportedCurrency(std::string_view currency) { return CurrencyExponent(currency).ok(); }

absl::StatusOr<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return Overflow("add");
  return r;
}

absl::StatusOr<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return Overflow("multiply");
  return r;
}

absl::StatusOr<Money> Add(const Money& a, const Money& b) {
  if (a.currency != b.currency) return Mismatch(a, b);
  int64_t r;
  if (__builtin_add_overflow(a.minor, b.minor, &r)) return Overflow("add");
  return Money{r, a.currency};
}

absl::StatusOr<Money> Sub(const Money& a, const Money& b) {
  if (a.currency != b.currency) return Mismatch(a, b);
  int64_t r;
  if (__builtin_sub_overflow(a.minor, b.minor, &r)) return Overflow("subtract");
  return Money{r, a.currency};
}

absl::StatusOr<int64_t> MulDivRoundHalfUp(int64_t amount, int64_t numerator, int64_t denominator) {
  if (denominator == 0) return absl::InvalidArgumentError("division by zero");
  // |int64| * |int64| < 2^126, so the product cannot overflow 128 bits.
  const __int128 product = static_cast<__int128>(amount) * numerator;
  const bool negative = (product < 0) != (denominator < 0) && product != 0;
  const unsigned __int128 p = product < 0 ? -static_cast<unsigned __int128>(product) : product;
  const unsigned __int128 d =
      denominator < 0 ? -static_cast<unsigned __int128>(static_cast<__int128>(denominator))
                      : static_cast<unsigned __int128>(denominator);
  unsigned __int128 q = p / d;
  const unsigned __int128 r = p % d;
  // Half rounds away from zero: compare 2r with d without overflowing (r < d <= 2^63).
  if (r >= d - r) ++q;
  if (q > static_cast<unsigned __int128>(INT64_MAX) + (negative ? 1 : 0)) {
    return Overflow("multiply-divide");
  }
  const __int128 result = negative ? -static_cast<__int128>(q) : static_cast<__int128>(q);
  return static_cast<int64_t>(result);
}

absl::StatusOr<std::vector<int64_t>> Apportion(int64_t total, const std::vector<int64_t>& weights) {
  if (weights.empty()) return absl::InvalidArgumentError("apportion: no weights");
  __int128 sum = 0;
  for (int64_t w : weights) {
    if (w < 0) return absl::InvalidArgumentError("apportion: negative weight");
    sum += w;
  }
  if (sum == 0) return absl::InvalidArgumentError("apportion: weights sum to zero");
  // A negative total (e.g. a discount) is split as its magnitude and negated, so shares mirror
  // the positive case exactly.
  const bool negative = total < 0;
  const __int128 magnitude = negative ? -static_cast<__int128>(total) : total;

  const size_t n = weights.size();
  std::vector<__int128> exact(n);
  std::vector<__int128> remainders(n);
  __int128 assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    // magnitude <= 2^63 and weight < 2^63: the product fits in 127 bits.
    const __int128 scaled = magnitude * weights[i];
    const __int128 share = scaled / sum;
    remainders[i] = scaled % sum;
    exact[i] = share;
    assigned += share;
  }
  __int128 left = magnitude - assigned;  // < n, since each floor loses less than one unit
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return remainders[a] > remainders[b]; });
  for (size_t k = 0; k < n && left > 0; ++k, --left) exact[order[k]] += 1;
  std::vector<int64_t> shares(n);
  for (size_t i = 0; i < n; ++i) {
    const __int128 v = negative ? -exact[i] : exact[i];
    if (!FitsInt64(v)) return Overflow("apportion");
    shares[i] = static_cast<int64_t>(v);
  }
  return shares;
}

std::string FormatMoney(const Money& m) {
  absl::StatusOr<int> exp = CurrencyExponent(m.currency);
  const int e = exp.ok() ? *exp : 2;
  const bool negative = m.minor < 0;
  const unsigned __int128 mag =
      negative ? -static_cast<unsigned __int128>(static_cast<__int128>(m.minor)) : m.minor;
  unsigned __int128 scale = 1;
  for (int i = 0; i < e; ++i) scale *= 10;
  const auto whole = static_cast<uint64_t>(mag / scale);
  const auto frac = static_cast<uint64_t>(mag % scale);
  std::string out = negative ? "-" : "";
  absl::StrAppend(&out, whole);
  if (e > 0) {
    std::string f = absl::StrCat(frac);
    absl::StrAppend(&out, ".", std::string(e - f.size(), '0'), f);
  }
  absl::StrAppend(&out, " ", m.currency);
  return out;
}

}  // namespace orderly
