// The SKU catalog and stock receipts against a real PostgreSQL.
#include "inventory_fixture.hpp"

namespace orderly::inventory::testing {
namespace {

class CatalogTest : public InventoryFixture {};

TEST_F(CatalogTest, UpsertIsAPutAndGetSkusKeepsRequestOrder) {
  SkuRecord a = Sku("a");
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto stored, catalog_->UpsertSku(a));
  EXPECT_EQ(stored.specs.at("colour"), "red");
  EXPECT_EQ(stored.price_minor, 1999);
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(a));  // same put: no new event
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%SkuUpserted'"), 1);
  a.price_minor = 2599;
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(a));
  EXPECT_EQ(Count("SELECT count(*) FROM outbox WHERE event_type LIKE '%SkuUpserted'"), 2);
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(Sku("b")));

  ORDERLY_ASSERT_OK_AND_ASSIGN(auto skus, catalog_->GetSkus({"b", "a"}));
  ASSERT_EQ(skus.size(), 2u);
  EXPECT_EQ(skus[0].sku_id, "b");
  EXPECT_EQ(skus[1].price_minor, 2599);
  auto missing = catalog_->GetSkus({"a", "x1", "x2"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(missing.status()), "SKU_NOT_FOUND");
  EXPECT_NE(std::string(missing.status().message()).find("x1"), std::string::npos);
  auto dup = catalog_->GetSkus({"a", "a"});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CatalogTest, InvalidSkuIsRefusedWithFieldViolations) {
  SkuRecord bad = Sku("bad", 65);
  bad.price_minor = -1;
  bad.currency_code = "XXX";
  auto r = catalog_->UpsertSku(bad);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> fields;
  for (const auto& fv : ErrorFieldViolations(r.status())) fields.push_back(fv.field);
  EXPECT_THAT(fields,
              ::testing::UnorderedElementsAre("sku.list_price.amount_minor",
                                              "sku.list_price.currency_code", "sku.stock_buckets"));
  EXPECT_EQ(Count("SELECT count(*) FROM skus"), 0);
}

TEST_F(CatalogTest, RebucketingIsRefusedWhileStockIsHeld) {
  AddSku(Sku("a", 2), 10);
  auto r = catalog_->UpsertSku(Sku("a", 4));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(Sku("empty", 2)));
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(Sku("empty", 8)));
  EXPECT_EQ(Count("SELECT count(*) FROM stock_buckets WHERE sku_id = 'empty'"), 8);
}

TEST_F(CatalogTest, ReceiveStockIsIdempotentByRequestId) {
  ORDERLY_ASSERT_OK(catalog_->UpsertSku(Sku("a", 3)));
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto first, catalog_->ReceiveStock("a", 10, "r1", "PO-1"));
  EXPECT_EQ(first.available, 10);
  EXPECT_EQ(first.total_received, 10);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto second, catalog_->ReceiveStock("a", 5, "r2", ""));
  EXPECT_EQ(second.total_received, 15);
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto retry, catalog_->ReceiveStock("a", 10, "r1", "PO-1"));
  EXPECT_EQ(retry.available, 10);  // the level recorded by the first call
  EXPECT_EQ(Level("a").total_received, 15);
  // Spread over the 3 buckets, the remainder to the emptiest: they stay level.
  EXPECT_LE(Count("SELECT max(available) - min(available) FROM stock_buckets WHERE sku_id = 'a'"),
            1);
  auto mismatch = catalog_->ReceiveStock("a", 11, "r1", "");
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(mismatch.status()), "REQUEST_FINGERPRINT_MISMATCH");
  auto unknown = catalog_->ReceiveStock("ghost", 1, "r3", "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto zero = catalog_->ReceiveStock("a", 0, "r4", "");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Level("a").total_received, 15);
}

TEST_F(CatalogTest, ListSkusPagesWithOpaqueTokens) {
  for (int i = 0; i < 5; ++i) {
    SkuRecord s = Sku("s" + std::to_string(i));
    s.merchant_id = i % 2 == 0 ? "m1" : "m2";
    ORDERLY_ASSERT_OK(catalog_->UpsertSku(s));
  }
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto p1,
                               catalog_->ListSkus("", v1::SKU_SALE_STATUS_UNSPECIFIED, 2, ""));
  ASSERT_EQ(p1.skus.size(), 2u);
  ASSERT_FALSE(p1.next_page_token.empty());
  ORDERLY_ASSERT_OK_AND_ASSIGN(
      auto p2, catalog_->ListSkus("", v1::SKU_SALE_STATUS_UNSPECIFIED, 2, p1.next_page_token));
  EXPECT_EQ(p2.skus[0].sku_id, "s2");
  ORDERLY_ASSERT_OK_AND_ASSIGN(
      auto p3, catalog_->ListSkus("", v1::SKU_SALE_STATUS_UNSPECIFIED, 2, p2.next_page_token));
  EXPECT_EQ(p3.skus.size(), 1u);
  EXPECT_TRUE(p3.next_page_token.empty());
  ORDERLY_ASSERT_OK_AND_ASSIGN(auto m1,
                               catalog_->ListSkus("m1", v1::SKU_SALE_STATUS_UNSPECIFIED, 0, ""));
  EXPECT_EQ(m1.skus.size(), 3u);
  auto wrong = catalog_->ListSkus("m2", v1::SKU_SALE_STATUS_UNSPECIFIED, 2, p1.next_page_token);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(wrong.status()), "INVALID_PAGE_TOKEN");
}

}  // namespace
}  // namespace orderly::inventory::testing
