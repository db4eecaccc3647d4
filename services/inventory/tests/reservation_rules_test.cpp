// The pure reservation rules: validation, fingerprints, expiry, catalog checks, bucket choice and
// the state decisions of Reserve / Confirm / Release.
#include "reservation_rules.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "orderly/core/status.hpp"

namespace orderly::inventory {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

const TimePoint kNow = FromUnixMillis(1'800'000'000'000);

std::vector<std::string> Fields(const absl::Status& s) {
  std::vector<std::string> out;
  for (const auto& fv : ErrorFieldViolations(s)) out.push_back(fv.field);
  return out;
}

ReserveCommand Cmd(std::vector<ReserveItem> items, OrderType t = common::v1::ORDER_TYPE_NORMAL) {
  ReserveCommand c;
  c.order_id = "o1";
  c.items = std::move(items);
  c.order_type = t;
  return c;
}

SkuRecord Sku(const std::string& id) {
  SkuRecord s;
  s.sku_id = id;
  return s;
}

TEST(ValidateReserve, NamesEveryBadField) {
  ReserveCommand c = Cmd({{"", 1}, {"a", 0}, {"a", -2}, {"b", kMaxLineQuantity + 1}});
  c.order_id = "";
  c.expires_at = kNow - 1s;
  EXPECT_THAT(Fields(ValidateReserve(c, kNow, {})),
              ElementsAre("order_id", "items[0].sku_id", "items[1].quantity", "items[2].sku_id",
                          "items[2].quantity", "items[3].quantity", "expires_at"));
  EXPECT_THAT(Fields(ValidateReserve(Cmd({}), kNow, {})), ElementsAre("items"));
  ReserveCommand far = Cmd({{"a", 1}});
  far.expires_at = kNow + 3h;
  EXPECT_THAT(Fields(ValidateReserve(far, kNow, {})), ElementsAre("expires_at"));
  EXPECT_THAT(Fields(ValidateReserve(Cmd({{"a", 1}, {"b", 1}}, common::v1::ORDER_TYPE_FLASH_SALE),
                                     kNow, {})),
              ElementsAre("items"));
  EXPECT_TRUE(ValidateReserve(Cmd({{"a", 1}, {"b", 2}}), kNow, {}).ok());
}

TEST(Fingerprint, IgnoresLineOrderButNotQuantities) {
  EXPECT_EQ(Fingerprint(Cmd({{"a", 1}, {"b", 2}})), Fingerprint(Cmd({{"b", 2}, {"a", 1}})));
  EXPECT_NE(Fingerprint(Cmd({{"a", 1}})), Fingerprint(Cmd({{"a", 2}})));
  EXPECT_NE(Fingerprint(Cmd({{"a", 1}})),
            Fingerprint(Cmd({{"a", 1}}, common::v1::ORDER_TYPE_FLASH_SALE)));
}

TEST(ExpiryOf, UsesThePaymentWindowOfTheOrderType) {
  PaymentWindows w;
  EXPECT_EQ(ExpiryOf(Cmd({{"a", 1}}), kNow, w), kNow + 30min);
  // The contract (order_type.proto): 5 minutes to pay a flash-sale order.
  EXPECT_EQ(ExpiryOf(Cmd({{"a", 1}}, common::v1::ORDER_TYPE_FLASH_SALE), kNow, w), kNow + 5min);
  ReserveCommand given = Cmd({{"a", 1}});
  given.expires_at = kNow + 5min;
  EXPECT_EQ(ExpiryOf(given, kNow, w), kNow + 5min);
}

TEST(CheckAgainstCatalog, RefusesInAFixedOrder) {
  SkuRecord off = Sku("off");
  off.sale_status = v1::SKU_SALE_STATUS_OFF_SALE;
  SkuRecord lim = Sku("lim");
  lim.purchase_limit = 2;
  SkuRecord flash = Sku("flash");
  flash.flash_sale = true;
  std::map<std::string, SkuRecord> skus{
      {"off", off}, {"lim", lim}, {"flash", flash}, {"a", Sku("a")}};

  auto missing = CheckAgainstCatalog(Cmd({{"off", 1}, {"ghost", 1}}), skus);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorMetadata(missing, "sku_id"), "ghost");
  EXPECT_EQ(ErrorReason(CheckAgainstCatalog(Cmd({{"off", 1}}), skus)), "SKU_OFF_SALE");
  auto over = CheckAgainstCatalog(Cmd({{"a", 9}, {"lim", 3}}), skus);
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(over), ElementsAre("items[1].quantity"));
  EXPECT_EQ(ErrorMetadata(over, "limit"), "2");
  EXPECT_EQ(ErrorReason(CheckAgainstCatalog(Cmd({{"flash", 1}}), skus)), "FLASH_SALE_NOT_READY");
  EXPECT_EQ(ErrorReason(
                CheckAgainstCatalog(Cmd({{"flash", 1}}, common::v1::ORDER_TYPE_FLASH_SALE), skus)),
            "FLASH_SALE_NOT_READY");  // not warmed
  skus["flash"].flash_epoch = 1;
  EXPECT_TRUE(
      CheckAgainstCatalog(Cmd({{"flash", 1}}, common::v1::ORDER_TYPE_FLASH_SALE), skus).ok());
  EXPECT_EQ(
      ErrorReason(CheckAgainstCatalog(Cmd({{"a", 1}}, common::v1::ORDER_TYPE_FLASH_SALE), skus)),
      "FLASH_SALE_NOT_READY");
  EXPECT_TRUE(CheckAgainstCatalog(Cmd({{"a", 100}, {"lim", 2}}), skus).ok());
}

TEST(BucketOrder, VisitsEveryBucketOnceStartingAtTheOrdersPick) {
  SkuRecord s = Sku("a");
  s.stock_buckets = 8;
  auto order = BucketOrder("o-17", s);
  ASSERT_EQ(order.size(), 8u);
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_THAT(sorted, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  for (size_t i = 1; i < order.size(); ++i) EXPECT_EQ(order[i], (order[i - 1] + 1) % 8);
  std::set<int> starts;
  for (int i = 0; i < 64; ++i) starts.insert(BucketOrder("o-" + std::to_string(i), s)[0]);
  EXPECT_GT(starts.size(), 4u);  // orders spread over the rows
  s.flash_sale = true;
  EXPECT_THAT(BucketOrder("o", s), ElementsAre(kFlashBucket));
}

Reservation Res(ReservationState st, TimePoint expires = kNow + 10min) {
  Reservation r;
  r.order_id = "o1";
  r.state = st;
  r.expires_at = expires;
  r.fingerprint = Fingerprint(Cmd({{"a", 1}}));
  return r;
}

TEST(Decisions, ReserveRetry) {
  const std::string fp = Fingerprint(Cmd({{"a", 1}}));
  EXPECT_TRUE(ReserveRetryOutcome(Res(ReservationState::kReserved), fp, kNow).ok());
  EXPECT_TRUE(ReserveRetryOutcome(Res(ReservationState::kConfirmed), fp, kNow).ok());
  EXPECT_EQ(ReserveRetryOutcome(Res(ReservationState::kReserved), "other", kNow).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(ReserveRetryOutcome(Res(ReservationState::kTombstone), fp, kNow)),
            "RESERVATION_RELEASED");
  EXPECT_EQ(ErrorReason(ReserveRetryOutcome(Res(ReservationState::kExpired), fp, kNow)),
            "RESERVATION_EXPIRED");
  EXPECT_EQ(ErrorReason(ReserveRetryOutcome(Res(ReservationState::kReserved, kNow), fp, kNow)),
            "RESERVATION_EXPIRED");
}

TEST(Decisions, ConfirmAndRelease) {
  EXPECT_EQ(*DecideConfirm(Res(ReservationState::kReserved), kNow), ConfirmAction::kConfirm);
  EXPECT_EQ(*DecideConfirm(Res(ReservationState::kReserved, kNow - 1ms), kNow),
            ConfirmAction::kExpire);
  EXPECT_EQ(*DecideConfirm(Res(ReservationState::kConfirmed), kNow),
            ConfirmAction::kReturnExisting);
  EXPECT_EQ(ErrorReason(DecideConfirm(Res(ReservationState::kReleased), kNow).status()),
            "RESERVATION_RELEASED");
  EXPECT_EQ(ErrorReason(DecideConfirm(Res(ReservationState::kExpired), kNow).status()),
            "RESERVATION_EXPIRED");
  EXPECT_EQ(*DecideRelease(Res(ReservationState::kReserved)), ReleaseAction::kRelease);
  EXPECT_EQ(*DecideRelease(Res(ReservationState::kTombstone)), ReleaseAction::kReturnExisting);
  EXPECT_EQ(*DecideRelease(Res(ReservationState::kExpired)), ReleaseAction::kReturnExisting);
  EXPECT_EQ(ErrorReason(DecideRelease(Res(ReservationState::kConfirmed)).status()),
            "RESERVATION_CONFIRMED");
}

}  // namespace
// InsufficientStock keeps the last refusals it built per thread (a sold-out sale repeats one):
// a repeat is the same status, and no argument may ever answer with another's details.
TEST(InsufficientStockTest, RepeatsShareOneStatusAndNeverMixUpArguments) {
  const absl::Status a = InsufficientStock("sku-a", 1, 0);
  EXPECT_EQ(a.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(a), "INSUFFICIENT_STOCK");
  EXPECT_EQ(a.message(), "SKU sku-a: 1 requested, 0 available");
  EXPECT_EQ(InsufficientStock("sku-a", 1, 0), a);
  // Negative availability reads as 0, like the first call.
  EXPECT_EQ(InsufficientStock("sku-a", 1, -3), a);
  struct Case {
    std::string sku;
    int64_t requested, available;
  };
  // More distinct refusals than the cache holds, twice over, interleaved with repeats of a.
  std::vector<Case> cases;
  for (int i = 0; i < 20; ++i) {
    cases.push_back({"sku-" + std::to_string(i % 5), 1 + i % 3, i % 4});
  }
  for (int round = 0; round < 2; ++round) {
    for (const Case& c : cases) {
      const absl::Status s = InsufficientStock(c.sku, c.requested, c.available);
      EXPECT_EQ(ErrorMetadata(s, "sku_id"), c.sku);
      EXPECT_EQ(ErrorMetadata(s, "requested"), std::to_string(c.requested));
      EXPECT_EQ(ErrorMetadata(s, "available"), std::to_string(c.available));
      EXPECT_EQ(s.message(), "SKU " + c.sku + ": " + std::to_string(c.requested) + " requested, " +
                                 std::to_string(c.available) + " available");
      EXPECT_EQ(ErrorMetadata(InsufficientStock("sku-a", 1, 0), "sku_id"), "sku-a");
    }
  }
  // A SKU id that is a prefix of another is another SKU.
  EXPECT_EQ(ErrorMetadata(InsufficientStock("sku-a2", 1, 0), "sku_id"), "sku-a2");
}

}  // namespace orderly::inventory
