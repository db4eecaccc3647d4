// The shared validation layer (issue 12.3): ids, text, ranges, dates, whole messages, and what
// of a client's input an error may echo.
#include "orderly/core/validation.hpp"

#include <gtest/gtest.h>

#include "orderly/core/status.hpp"
#include "orderly/inventory/v1/inventory_service.pb.h"
#include "orderly/payment/v1/payment_service.pb.h"

namespace orderly::validation {
namespace {

std::vector<std::string> Fields(const Violations& v) {
  std::vector<std::string> out;
  for (const auto& fv : v.list()) out.push_back(fv.field);
  return out;
}

TEST(ValidationTest, IdsRefuseControlCharactersAndLength) {
  Violations v;
  CheckId(v, "a", std::string("x\0y", 3), true);
  CheckId(v, "b", std::string(129, 'x'), true);
  CheckId(v, "c", "", true);
  CheckId(v, "d", "", false);
  CheckId(v, "e", "sku-1001", true);
  CheckId(v, "f", "x\x7fy", true);
  CheckId(v, "g", "\xc0\xaf", true);
  EXPECT_EQ(Fields(v), (std::vector<std::string>{"a", "b", "c", "f", "g"}));
  EXPECT_EQ(v.list()[0].description, "must not contain control characters");
}

TEST(ValidationTest, TextIsUtf8WithinItsLengthAndLineBreaksOnlyWhenMultiline) {
  Violations v;
  CheckText(v, "ok", "\xe4\xbd\xa0\xe5\xa5\xbd", 2, true);  // two characters, six bytes
  CheckText(v, "long", "abc", 2, true);
  CheckText(v, "huge", std::string(1 << 20, 'x'), 200, true);
  CheckText(v, "nl", "a\nb", 10, true);
  CheckText(v, "nl_ok", "a\nb\tc", 10, true, /*multiline=*/true);
  CheckText(v, "nul", std::string("a\0b", 3), 10, true, true);
  CheckText(v, "bad", "\xed\xa0\x80", 10, true);
  EXPECT_EQ(Fields(v), (std::vector<std::string>{"long", "huge", "nl", "nul", "bad"}));
}

TEST(ValidationTest, RangesAmountsAndDates) {
  Violations v;
  CheckAmount(v, "price", INT64_MAX);
  CheckAmount(v, "ok", kMaxAmountMinor);
  CheckAmount(v, "neg", -1);
  CheckRange(v, "limit", int64_t{1} << 40, 0, 100000);
  CheckDate(v, "d1", "", true);
  CheckDate(v, "d2", "2030-02-29", true);
  CheckDate(v, "d3", "2028-02-29", true);
  CheckDate(v, "d4", "2030-13-01", true);
  CheckDate(v, "d5", "2030-1-01", true);
  CheckDate(v, "d6", "", false);
  EXPECT_EQ(Fields(v), (std::vector<std::string>{"price", "neg", "limit", "d1", "d2", "d4", "d5"}));
}

TEST(ValidationTest, EveryStringOfAMessageIsChecked) {
  inventory::v1::UpsertSkuRequest req;
  auto* sku = req.mutable_sku();
  sku->set_sku_id(std::string("x\0y", 3));
  sku->set_product_name(std::string(1 << 20, 'n'));
  (*sku->mutable_specs())["colour"] = "red";
  (*sku->mutable_specs())[std::string(200, 'k')] = "v";
  req.set_request_id("r-1");
  Violations v;
  CheckMessage(v, req);
  std::vector<std::string> fields = Fields(v);
  std::sort(fields.begin(), fields.end());
  ASSERT_EQ(fields.size(), 3u) << ::testing::PrintToString(fields);
  EXPECT_EQ(fields[0], "sku.product_name");
  EXPECT_EQ(fields[1], "sku.sku_id");
  EXPECT_EQ(fields[2].rfind("sku.specs[", 0), 0u);
  EXPECT_EQ(fields[2].substr(fields[2].size() - 4), ".key");

  inventory::v1::GetSkusRequest ids;
  ids.add_sku_ids("a");
  ids.add_sku_ids(std::string("b\0", 2));
  const absl::Status s = ValidateMessage(ids);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(ErrorFieldViolations(s).size(), 1u);
  EXPECT_EQ(ErrorFieldViolations(s)[0].field, "sku_ids[1]");
  EXPECT_TRUE(ValidateMessage(inventory::v1::GetSkusRequest()).ok());
}

TEST(ValidationTest, RulesWidenAFieldAndBytesAreOnlyBounded) {
  payment::v1::HandleChannelNotificationRequest req;
  req.set_body(std::string("{\"a\":\n\0}", 8));
  (*req.mutable_headers())["wechatpay-signature"] = std::string(2000, 's');
  EXPECT_FALSE(ValidateMessage(req).ok());  // by default a map value is text of 1000 characters
  EXPECT_TRUE(
      ValidateMessage(req, {{.path = "headers.value", .max_bytes = 8192, .multiline = false}})
          .ok());
  req.set_body(std::string(kMaxBytesField + 1, 'b'));
  EXPECT_FALSE(ValidateMessage(req, {{.path = "headers.value", .max_bytes = 8192}}).ok());
}

TEST(ValidationTest, BoundedNeverEchoesMoreThanItsLimit) {
  EXPECT_EQ(Bounded("sku-1"), "sku-1");
  EXPECT_EQ(Bounded(std::string("x\0y", 3)), "x\\x00y");
  const std::string big = Bounded(std::string(1 << 20, 'z'));
  EXPECT_LE(big.size(), kMaxEchoBytes);
  EXPECT_NE(big.find("...(1048576 bytes)"), std::string::npos);
  // Cut on a character boundary: never half a UTF-8 sequence.
  std::string cjk;
  for (int i = 0; i < 100; ++i) cjk += "\xe4\xbd\xa0";
  const std::string cut = Bounded(cjk, 30);  // 16 bytes of text + "...(300 bytes)"
  EXPECT_TRUE(IsValidUtf8(cut));
  EXPECT_LE(cut.size(), 30u);
  EXPECT_EQ(cut,
            "\xe4\xbd\xa0\xe4\xbd\xa0\xe4\xbd\xa0\xe4\xbd\xa0\xe4\xbd\xa0"
            "...(300 bytes)");
}

}  // namespace
}  // namespace orderly::validation
