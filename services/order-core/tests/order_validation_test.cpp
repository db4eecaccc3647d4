// Bad input is rejected with one field violation per bad field (pure).
#include "order_validation.hpp"

#include <gtest/gtest.h>

#include "orderly/core/status.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;

ov1::CreateOrderRequest Valid() {
  ov1::CreateOrderRequest r;
  r.set_order_id("123456789");
  r.set_buyer_id("buyer-1");
  r.set_request_id("req-1");
  auto* item = r.add_items();
  item->set_sku_id("sku-1");
  item->set_quantity(2);
  auto* a = r.mutable_shipping_address();
  a->set_receiver_name("Li Lei");
  a->set_phone("+8613800000000");
  a->set_country_code("CN");
  a->set_city("Hangzhou");
  a->set_detail("1 West Lake Road");
  return r;
}

std::set<std::string> Fields(const absl::Status& s) {
  std::set<std::string> out;
  for (const auto& v : ErrorFieldViolations(s)) out.insert(v.field);
  return out;
}

class ValidationTest : public ::testing::Test {
 protected:
  OrderFlowsPtr flows_ = OrderFlows::Default();
  absl::Status Check(const ov1::CreateOrderRequest& r) { return ValidateCreate(r, *flows_); }
};

TEST_F(ValidationTest, ValidRequestPasses) { EXPECT_TRUE(Check(Valid()).ok()); }

TEST_F(ValidationTest, MissingAndMalformedIds) {
  auto r = Valid();
  r.set_order_id("12x");
  r.clear_buyer_id();
  r.clear_request_id();
  auto s = Check(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Fields(s), (std::set<std::string>{"order_id", "buyer_id", "request_id"}));
  r = Valid();
  r.set_order_id("99999999999999999999999");
  EXPECT_EQ(Fields(Check(r)), (std::set<std::string>{"order_id"}));
}

TEST_F(ValidationTest, ItemsEmptyTooManyQuantityAndDuplicates) {
  auto r = Valid();
  r.clear_items();
  EXPECT_EQ(Fields(Check(r)), (std::set<std::string>{"items"}));
  r = Valid();
  r.clear_items();
  for (int i = 0; i < 101; ++i) {
    auto* it = r.add_items();
    it->set_sku_id("sku-" + std::to_string(i));
    it->set_quantity(1);
  }
  EXPECT_TRUE(Fields(Check(r)).count("items"));
  r = Valid();
  r.mutable_items(0)->set_quantity(0);
  auto* dup = r.add_items();
  dup->set_sku_id("sku-1");
  dup->set_quantity(1000);
  EXPECT_EQ(Fields(Check(r)),
            (std::set<std::string>{"items[0].quantity", "items[1].sku_id", "items[1].quantity"}));
}

TEST_F(ValidationTest, AddressUtf8AndLengths) {
  auto r = Valid();
  r.mutable_shipping_address()->set_city(std::string("\xff\xfe", 2));
  r.mutable_shipping_address()->set_detail(std::string(501, 'x'));
  r.mutable_shipping_address()->set_country_code("cn");
  r.mutable_shipping_address()->clear_phone();
  r.set_client_note(std::string(501, 'n'));
  EXPECT_EQ(Fields(Check(r)),
            (std::set<std::string>{"shipping_address.city", "shipping_address.detail",
                                   "shipping_address.country_code", "shipping_address.phone",
                                   "client_note"}));
  // 500 Chinese characters are 1500 bytes but within the limit.
  r = Valid();
  std::string note;
  for (int i = 0; i < 500; ++i) note += "\xe5\xa5\xbd";
  r.set_client_note(note);
  EXPECT_TRUE(Check(r).ok());
}

TEST_F(ValidationTest, NegativeAmountsAndPoints) {
  auto r = Valid();
  r.set_points_to_use(-1);
  r.mutable_expected_total()->set_amount_minor(-5);
  r.mutable_expected_total()->set_currency_code("XXX");
  EXPECT_EQ(Fields(Check(r)), (std::set<std::string>{"points_to_use", "expected_total.amount_minor",
                                                     "expected_total.currency_code"}));
}

TEST_F(ValidationTest, FlashSaleIsOneLine) {
  auto r = Valid();
  r.set_order_type(common::v1::ORDER_TYPE_FLASH_SALE);
  auto* it = r.add_items();
  it->set_sku_id("sku-2");
  it->set_quantity(1);
  EXPECT_EQ(Fields(Check(r)), (std::set<std::string>{"items"}));
}

// Issue 12.3: control characters never reach SQL; a note may still have line breaks.
TEST_F(ValidationTest, ControlCharactersAreRefusedButNotesKeepLineBreaks) {
  auto r = Valid();
  r.set_buyer_id(std::string("buyer\0x", 7));
  r.mutable_items(0)->set_sku_id("sku\x01");
  r.mutable_shipping_address()->set_receiver_name("Li\nLei");
  r.set_client_note("leave at the door\nthanks");
  r.mutable_expected_total()->set_amount_minor(INT64_MAX);
  r.mutable_expected_total()->set_currency_code("CNY");
  EXPECT_EQ(Fields(Check(r)),
            (std::set<std::string>{"buyer_id", "items[0].sku_id", "shipping_address.receiver_name",
                                   "expected_total.amount_minor"}));
}

TEST(Utf8, RejectsOverlongAndSurrogates) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xe4\xbd\xa0\xe5\xa5\xbd"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe4\xbd"));      // truncated
  EXPECT_EQ(Utf8Length("\xe4\xbd\xa0\xe5\xa5\xbd"), 2u);
}

TEST(Fingerprint, IgnoresRequestIdButNotTheBody) {
  auto a = Valid();
  auto b = Valid();
  b.set_request_id("another");
  EXPECT_EQ(RequestFingerprint(a), RequestFingerprint(b));
  b.mutable_items(0)->set_quantity(3);
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(b));
  auto c = Valid();
  c.mutable_shipping_address()->set_city("Shanghai");
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(c));
}

}  // namespace
}  // namespace orderly::order_core
