#include "orderly/core/money.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace orderly {
namespace {

int64_t Sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

TEST(ApportionTest, SharesSumExactlyToTotal) {
  auto shares = Apportion(1000, {1, 1, 1});
  ASSERT_TRUE(shares.ok()) << shares.status();
  EXPECT_EQ(Sum(*shares), 1000);
  // 333.33 each; the single leftover unit goes to the lowest index among equal remainders.
  EXPECT_EQ(*shares, (std::vector<int64_t>{334, 333, 333}));
}

TEST(ApportionTest, LargerRemainderWinsBeforeIndex) {
  // Exact shares 100*1/6=16.67, 100*2/6=33.33, 100*3/6=50: the 0.67 remainder gets the unit.
  auto shares = Apportion(100, {1, 2, 3});
  ASSERT_TRUE(shares.ok());
  EXPECT_EQ(*shares, (std::vector<int64_t>{17, 33, 50}));
}

TEST(ApportionTest, TwoLeftoverUnitsGoToTwoLargestRemainders) {
  // 10 over {3,3,3,1}: exact 3.0,3.0,3.0,1.0 -> no leftovers; 11 over same: 3.3,3.3,3.3,1.1
  auto even = Apportion(10, {3, 3, 3, 1});
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(*even, (std::vector<int64_t>{3, 3, 3, 1}));
  auto odd = Apportion(11, {3, 3, 3, 1});
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(*odd, (std::vector<int64_t>{4, 3, 3, 1}));
  auto more = Apportion(12, {3, 3, 3, 1});  // 3.6,3.6,3.6,1.2
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*more, (std::vector<int64_t>{4, 4, 3, 1}));
}

TEST(ApportionTest, ManyRandomishCasesSumExactly) {
  for (int64_t total : {0LL, 1LL, 7LL, 999LL, 123456789LL, -500LL}) {
    std::vector<int64_t> weights = {5, 0, 17, 3, 1, 999};
    auto shares = Apportion(total, weights);
    ASSERT_TRUE(shares.ok());
    EXPECT_EQ(Sum(*shares), total) << total;
    EXPECT_EQ((*shares)[1], 0) << "a zero weight gets nothing";
  }
}

TEST(ApportionTest, NegativeTotalMirrorsPositive) {
  auto shares = Apportion(-1000, {1, 1, 1});
  ASSERT_TRUE(shares.ok());
  EXPECT_EQ(*shares, (std::vector<int64_t>{-334, -333, -333}));
}

TEST(ApportionTest, ExtremeValuesDoNotOverflow) {
  auto shares = Apportion(INT64_MAX, {INT64_MAX, INT64_MAX});
  ASSERT_TRUE(shares.ok()) << shares.status();
  EXPECT_EQ((*shares)[0], INT64_MAX / 2 + 1);
  EXPECT_EQ((*shares)[1], INT64_MAX / 2);
  auto min = Apportion(INT64_MIN, {1});
  ASSERT_TRUE(min.ok());
  EXPECT_EQ((*min)[0], INT64_MIN);
}

TEST(ApportionTest, RejectsBadWeights) {
  EXPECT_EQ(Apportion(10, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Apportion(10, {0, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Apportion(10, {1, -1}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MoneyTest, OverflowIsOutOfRange) {
  EXPECT_EQ(CheckedAdd(INT64_MAX, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(CheckedMul(INT64_MAX / 2 + 1, 2).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*CheckedMul(-3, 4), -12);
  EXPECT_EQ(Add({INT64_MAX, "CNY"}, {1, "CNY"}).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Sub({INT64_MIN, "CNY"}, {1, "CNY"}).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(MulDivRoundHalfUp(INT64_MAX, 3, 2).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(MoneyTest, AddRequiresSameCurrency) {
  EXPECT_EQ(Add({100, "CNY"}, {1, "USD"}).status().code(), absl::StatusCode::kInvalidArgument);
  auto sum = Add({100, "CNY"}, {23, "CNY"});
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, (Money{123, "CNY"}));
  EXPECT_EQ(*Sub({100, "CNY"}, {123, "CNY"}), (Money{-23, "CNY"}));
}

TEST(MulDivRoundHalfUpTest, Cases) {
  EXPECT_EQ(*MulDivRoundHalfUp(1999, 2, 100), 40);  // 39.98
  EXPECT_EQ(*MulDivRoundHalfUp(25, 1, 10), 3);      // 2.5 rounds up
  EXPECT_EQ(*MulDivRoundHalfUp(24, 1, 10), 2);      // 2.4
  EXPECT_EQ(*MulDivRoundHalfUp(-25, 1, 10), -3);    // -2.5 away from zero
  EXPECT_EQ(*MulDivRoundHalfUp(-24, 1, 10), -2);
  EXPECT_EQ(*MulDivRoundHalfUp(25, -1, 10), -3);
  EXPECT_EQ(*MulDivRoundHalfUp(25, 1, -10), -3);
  EXPECT_EQ(*MulDivRoundHalfUp(-25, -1, 10), 3);
  EXPECT_EQ(*MulDivRoundHalfUp(0, 5, 7), 0);
  EXPECT_EQ(*MulDivRoundHalfUp(1, 1, 3), 0);
  EXPECT_EQ(*MulDivRoundHalfUp(2, 1, 3), 1);
  // Intermediate product exceeds int64 but the result fits.
  EXPECT_EQ(*MulDivRoundHalfUp(INT64_MAX, 1000, 1000), INT64_MAX);
  EXPECT_EQ(*MulDivRoundHalfUp(INT64_MIN, 1, 1), INT64_MIN);
  EXPECT_EQ(MulDivRoundHalfUp(1, 1, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CurrencyTest, Exponents) {
  EXPECT_EQ(*CurrencyExponent("CNY"), 2);
  EXPECT_EQ(*CurrencyExponent("USD"), 2);
  EXPECT_EQ(*CurrencyExponent("EUR"), 2);
  EXPECT_EQ(*CurrencyExponent("GBP"), 2);
  EXPECT_EQ(*CurrencyExponent("HKD"), 2);
  EXPECT_EQ(*CurrencyExponent("JPY"), 0);
  EXPECT_EQ(*CurrencyExponent("KRW"), 0);
  EXPECT_FALSE(IsSupportedCurrency("XXX"));
  EXPECT_FALSE(IsSupportedCurrency("cny"));
  EXPECT_EQ(CurrencyExponent("XXX").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FormatMoneyTest, Formats) {
  EXPECT_EQ(FormatMoney({1234, "CNY"}), "12.34 CNY");
  EXPECT_EQ(FormatMoney({5, "USD"}), "0.05 USD");
  EXPECT_EQ(FormatMoney({-5, "USD"}), "-0.05 USD");
  EXPECT_EQ(FormatMoney({1234, "JPY"}), "1234 JPY");
  EXPECT_EQ(FormatMoney({INT64_MIN, "JPY"}), "-9223372036854775808 JPY");
}

}  // namespace
}  // namespace orderly
