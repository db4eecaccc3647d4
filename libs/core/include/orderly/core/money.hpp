#pragma once
// Money is integer minor units (cents, fen) plus an ISO-4217 code. Never floating point. Every
// arithmetic step is overflow-checked; rounding is explicit.
#include <absl/status/statusor.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orderly {

struct Money {
  int64_t minor = 0;
  std::string currency;  // "CNY", "USD", "JPY"
  bool operator==(const Money&) const = default;
};

// Digits after the decimal point for a currency (CNY/USD/EUR 2, JPY/KRW 0); NOT_FOUND-style
// INVALID_ARGUMENT for codes Orderly does not support.
absl::StatusOr<int> CurrencyExponent(std::string_view currency);
bool IsSupportedCurrency(std::string_view currency);

// Checked operations: INVALID_ARGUMENT on currency mismatch, OUT_OF_RANGE on overflow.
absl::StatusOr<Money> Add(const Money& a, const Money& b);
absl::StatusOr<Money> Sub(const Money& a, const Money& b);
absl::StatusOr<int64_t> CheckedAdd(int64_t a, int64_t b);
absl::StatusOr<int64_t> CheckedMul(int64_t a, int64_t b);

// amount * numerator / denominator rounded half-up (away from zero for the .5 case). Used for
// percentage discounts: PercentOf(1999, 2, 100) = 40.
absl::StatusOr<int64_t> MulDivRoundHalfUp(int64_t amount, int64_t numerator, int64_t denominator);

// Splits total over weights by the largest-remainder method: shares sum exactly to total, each
// share is floor(total*w/sum) plus at most one unit, remainders broken by larger remainder then
// lower index. Weights must be >= 0 with a positive sum (else INVALID_ARGUMENT).
absl::StatusOr<std::vector<int64_t>> Apportion(int64_t total, const std::vector<int64_t>& weights);

// "12.34 CNY" for logs and messages.
std::string FormatMoney(const Money& m);

}  // namespace orderly
