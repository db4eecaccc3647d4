// Pure domain rules: the channels' breaker settings and the bill comparison.
#include <gtest/gtest.h>

#include "orderly/core/status.hpp"
#include "payment_manager.hpp"
#include "reconciler.hpp"

namespace orderly::payment {
namespace {

using namespace std::chrono_literals;

// The channels use the shared breaker (libs/core circuit_breaker_test covers its policy) and
// tell a refused buyer the payment is busy, with the channel's reason.
TEST(ChannelBreakerTest, RefusesWithChannelUnavailable) {
  auto clock = std::make_shared<ManualClock>(FromUnixMillis(1'800'000'000'000));
  BreakerOptions o;
  o.min_calls = 2;
  o.failure_rate = 0.4;
  CircuitBreaker b("alipay", ChannelBreakerOptions(o), clock);
  b.Record(false);
  b.Record(false);
  auto s = b.Allow();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(s.message()).find("payment busy, try again later"), std::string::npos);
  EXPECT_EQ(ErrorReason(s), "CHANNEL_UNAVAILABLE");
  EXPECT_TRUE(IsChannelFailure(absl::DeadlineExceededError("slow")));
  EXPECT_FALSE(IsChannelFailure(absl::FailedPreconditionError("closed")));
}

TEST(CompareBillTest, FindsEveryKindOfDifference) {
  std::vector<BillRecord> bill(4);
  bill[0].out_trade_no = "p-ok";
  bill[0].amount_minor = 100;
  bill[1].out_trade_no = "p-amount";
  bill[1].amount_minor = 201;
  bill[2].out_trade_no = "p-only-channel";
  bill[2].amount_minor = 50;
  bill[3].kind = BillRecord::Kind::kRefund;
  bill[3].out_trade_no = "p-ok";
  bill[3].out_refund_no = "r-ok";
  bill[3].amount_minor = 10;
  std::vector<LocalRecord> local{
      {BillRecord::Kind::kPayment, "p-ok", "", "t1", 100, "SUCCEEDED"},
      {BillRecord::Kind::kPayment, "p-amount", "", "t2", 200, "SUCCEEDED"},
      {BillRecord::Kind::kPayment, "p-only-local", "", "t3", 70, "SUCCEEDED"},
      {BillRecord::Kind::kRefund, "p-ok", "r-ok", "c1", 10, "SUCCEEDED"},
      {BillRecord::Kind::kRefund, "p-ok", "r-only-local", "c2", 5, "SUCCEEDED"}};
  auto cmp = CompareBill(bill, local, "CNY");
  EXPECT_EQ(cmp.matched, 2);
  ASSERT_EQ(cmp.unmatched_bill.size(), 1u);
  EXPECT_EQ(cmp.unmatched_bill[0].out_trade_no, "p-only-channel");
  std::map<v1::MismatchKind, int> kinds;
  for (const auto& m : cmp.mismatches) ++kinds[m.kind()];
  EXPECT_EQ(kinds[v1::MISMATCH_KIND_AMOUNT_DIFFERS], 1);
  EXPECT_EQ(kinds[v1::MISMATCH_KIND_MISSING_CHANNEL], 2);
  EXPECT_EQ(cmp.channel_net, 100 + 201 + 50 - 10);
  EXPECT_EQ(cmp.local_net, 100 + 200 + 70 - 10 - 5);
}

TEST(ChinaDayTest, ValidatesDates) {
  TimePoint a, b;
  ASSERT_TRUE(ChinaDayBounds("2026-11-21", &a, &b).ok());
  EXPECT_EQ(ToRfc3339(a), "2026-11-20T16:00:00.000Z");
  EXPECT_EQ(b - a, std::chrono::hours(24));
  for (const char* bad : {"2026-13-01", "2026-02-30", "20261121", "", "2026-1-01"})
    EXPECT_FALSE(ChinaDayBounds(bad, &a, &b).ok()) << bad;
}

}  // namespace
}  // namespace orderly::payment
