#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "orderly/core/money.hpp"
#include "orderly/core/status.hpp"
#include "orderly/pricing/pricing.hpp"

namespace orderly::pricing {
namespace {

PricingRequest ThreeLines() {
  PricingRequest r;
  r.currency = "CNY";
  r.buyer_id = "buyer-1";
  r.lines = {{"L1", "A", "M", std::nullopt, 3333, 7},
             {"L2", "B", "M", std::nullopt, 1999, 3},
             {"L3", "C", "M", std::nullopt, 100, 1}};
  r.points_to_use = 1234;
  return r;
}

PricingRules SomeRules() {
  PricingRules rules;
  rules.currency = "CNY";
  Promotion p;
  p.promotion_id = "pct";
  p.kind = Promotion::Kind::kPercentOff;
  p.percent_bps = 1700;  // 17% makes uneven finals
  rules.promotions = {p};
  rules.points = {100, 100, 5000, 0};
  return rules;
}

TEST(QuoteRefund, UnitByUnitSumsExactlyToTheLineFinal) {
  absl::StatusOr<PricingResult> r = PriceOrder(ThreeLines(), SomeRules());
  ASSERT_TRUE(r.ok()) << r.status();
  for (const LineResult& line : r->lines) {
    int64_t money = 0;
    int64_t points = 0;
    for (int64_t k = 0; k < line.quantity; ++k) {
      absl::StatusOr<RefundQuote> q = QuoteRefund(*r, line.line_id, 1, k);
      ASSERT_TRUE(q.ok()) << q.status();
      money += q->amount_minor;
      points += q->points_minor;
    }
    EXPECT_EQ(money, line.final_minor) << line.line_id;
    EXPECT_EQ(points, line.points_minor) << line.line_id;
    absl::StatusOr<RefundQuote> all = QuoteRefund(*r, line.line_id, line.quantity);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->amount_minor, line.final_minor);
  }
}

TEST(QuoteRefund, MatchesLargestRemainderPerUnit) {
  absl::StatusOr<PricingResult> r = PriceOrder(ThreeLines(), SomeRules());
  ASSERT_TRUE(r.ok()) << r.status();
  const LineResult& l1 = r->lines[0];
  ASSERT_NE(l1.final_minor % l1.quantity, 0) << "the test needs an uneven split";
  absl::StatusOr<std::vector<int64_t>> per_unit =
      Apportion(l1.final_minor, std::vector<int64_t>(l1.quantity, 1));
  ASSERT_TRUE(per_unit.ok());
  // Any batch split (2 + 4 + 1) equals the sum of the same units' shares.
  int64_t from = 0;
  for (int64_t batch : {2, 4, 1}) {
    int64_t expected = 0;
    for (int64_t u = from; u < from + batch; ++u) expected += (*per_unit)[u];
    absl::StatusOr<RefundQuote> q = QuoteRefund(*r, "L1", batch, from);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->amount_minor, expected) << "batch from " << from;
    from += batch;
  }
}

TEST(QuoteRefund, HandWorkedLine) {
  PricingResult r;
  r.lines = {{"L", 3, 1000, 0, 0, 0, 0, 1000}};
  // 10.00 over 3 units: 3.34 / 3.33 / 3.33, first unit carries the extra fen.
  EXPECT_EQ(QuoteRefund(r, "L", 1, 0)->amount_minor, 334);
  EXPECT_EQ(QuoteRefund(r, "L", 1, 1)->amount_minor, 333);
  EXPECT_EQ(QuoteRefund(r, "L", 2, 1)->amount_minor, 666);
  EXPECT_EQ(QuoteRefund(r, "L", 3, 0)->amount_minor, 1000);
}

TEST(QuoteRefund, RefusesUnknownLinesAndTooManyUnits) {
  absl::StatusOr<PricingResult> r = PriceOrder(ThreeLines(), SomeRules());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(QuoteRefund(*r, "nope", 1).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<RefundQuote> q = QuoteRefund(*r, "L2", 2, 2);  // 3 units, 2 already back
  ASSERT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(ErrorFieldViolations(q.status()).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(q.status())[0].field, "quantity");
  EXPECT_EQ(QuoteRefund(*r, "L2", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuoteRefund(*r, "L2", 1, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(QuoteRefund(*r, "L2", 1, 2).ok());
}

}  // namespace
}  // namespace orderly::pricing
