#include "catalog_manager.hpp"

#include <absl/strings/escaping.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>

#include <map>
#include <set>

#include "orderly/core/money.hpp"
#include "orderly/core/status.hpp"
#include "reservation_rules.hpp"

namespace orderly::inventory {

absl::Status ValidateSku(const SkuRecord& s) {
  Violations v;
  if (s.sku_id.empty()) v.Add("sku.sku_id", "required");
  if (s.sku_id.size() > 64) v.Add("sku.sku_id", "at most 64 characters");
  if (s.product_id.empty()) v.Add("sku.product_id", "required");
  if (s.product_name.empty()) v.Add("sku.product_name", "required");
  if (s.merchant_id.empty()) v.Add("sku.merchant_id", "required");
  if (s.warehouse_id.empty()) v.Add("sku.warehouse_id", "required");
  if (s.price_minor < 0) v.Add("sku.list_price.amount_minor", "must not be negative");
  if (!IsSupportedCurrency(s.currency_code)) {
    v.Add("sku.list_price.currency_code", "unsupported currency '" + s.currency_code + "'");
  }
  if (s.sale_status != v1::SKU_SALE_STATUS_ON_SALE &&
      s.sale_status != v1::SKU_SALE_STATUS_OFF_SALE) {
    v.Add("sku.sale_status", "must be ON_SALE or OFF_SALE");
  }
  if (s.purchase_limit < 0) v.Add("sku.purchase_limit", "must not be negative");
  if (s.deduction_policy != v1::DEDUCTION_POLICY_RESERVE_AT_ORDER &&
      s.deduction_policy != v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT) {
    v.Add("sku.deduction_policy", "unknown policy");
  }
  if (s.flash_sale && s.deduction_policy == v1::DEDUCTION_POLICY_DEDUCT_AT_PAYMENT) {
    v.Add("sku.deduction_policy", "flash-sale SKUs reserve at order");
  }
  if (s.stock_buckets < 1 || s.stock_buckets > kMaxBuckets) {
    v.Add("sku.stock_buckets", absl::StrCat("must be 1..", kMaxBuckets));
  }
  if (s.flash_sale && s.stock_buckets != 1) {
    v.Add("sku.stock_buckets", "a flash-sale SKU sells from its Redis pool: use 1");
  }
  if (s.low_stock_threshold < 0) v.Add("sku.low_stock_threshold", "must not be negative");
  for (const auto& [k, val] : s.specs) {
    if (k.empty() || k.size() > 64 || val.size() > 256) {
      v.Add("sku.specs", "keys 1..64 and values up to 256 characters");
      break;
    }
  }
  return v.ToStatus("invalid SKU");
}

absl::Status ValidateIds(const std::vector<std::string>& ids, const std::string& field) {
  Violations v;
  if (ids.empty()) v.Add(field, "at least one id is required");
  if (ids.size() > kMaxBatchIds) v.Add(field, absl::StrCat("at most ", kMaxBatchIds, " ids"));
  std::set<std::string> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty())
      v.Add(absl::StrCat(field, "[", i, "]"), "must not be empty");
    else if (!seen.insert(ids[i]).second) {
      v.Add(absl::StrCat(field, "[", i, "]"), "duplicate id " + ids[i]);
    }
  }
  return v.ToStatus("invalid id list");
}

std::string EncodePageToken(const std::string& merchant_id, SkuSaleStatus status,
                            const std::string& last_sku_id) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1\n", merchant_id, "\n", static_cast<int>(status), "\n", last_sku_id));
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token,
                                            const std::string& merchant_id, SkuSaleStatus status) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '\n');
  if (parts.size() != 4 || parts[0] != "v1" || parts[1] != merchant_id ||
      parts[2] != std::to_string(static_cast<int>(status))) {
    absl::Status s = InvalidArgumentError(
        "invalid page_token", {{"page_token", "malformed or issued for another filter"}});
    absl::Status info = ErrorWithInfo(absl::StatusCode::kInvalidArgument, "invalid page_token",
                                      "INVALID_PAGE_TOKEN");
    info.ForEachPayload([&s](absl::string_view url, const absl::Cord& p) { s.SetPayload(url, p); });
    return s;
  }
  return parts[3];
}

absl::StatusOr<std::vector<SkuRecord>> CatalogManager::GetSkus(
    const std::vector<std::string>& ids) {
  if (auto s = ValidateIds(ids, "sku_ids"); !s.ok()) return s;
  auto found = repo_.GetSkus(ids);
  if (!found.ok()) return found.status();
  std::map<std::string, SkuRecord> by_id;
  for (auto& s : *found) by_id.emplace(s.sku_id, std::move(s));
  std::vector<SkuRecord> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    auto it = by_id.find(id);
    if (it == by_id.end()) return SkuNotFound(id);
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<SkuPage> CatalogManager::ListSkus(const std::string& merchant_id,
                                                 SkuSaleStatus status, int page_size,
                                                 const std::string& page_token) {
  Violations v;
  if (page_size < 0 || page_size > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be 0..", kMaxPageSize));
  }
  if (!v1::SkuSaleStatus_IsValid(status)) v.Add("sale_status", "unknown status");
  if (!v.empty()) return v.ToStatus("invalid ListSkus request");
  const int size = page_size == 0 ? kDefaultPageSize : page_size;
  std::string after;
  if (!page_token.empty()) {
    auto decoded = DecodePageToken(page_token, merchant_id, status);
    if (!decoded.ok()) return decoded.status();
    after = *decoded;
  }
  // One extra row tells whether another page exists.
  auto rows = repo_.ListSkus(merchant_id, status, after, size + 1);
  if (!rows.ok()) return rows.status();
  SkuPage page;
  page.skus = *std::move(rows);
  if (static_cast<int>(page.skus.size()) > size) {
    page.skus.resize(size);
    page.next_page_token = EncodePageToken(merchant_id, status, page.skus.back().sku_id);
  }
  return page;
}

absl::StatusOr<SkuRecord> CatalogManager::UpsertSku(const SkuRecord& sku) {
  if (auto s = ValidateSku(sku); !s.ok()) return s;
  return repo_.UpsertSku(sku);
}

absl::StatusOr<StockLevel> CatalogManager::ReceiveStock(const std::string& sku_id, int64_t quantity,
                                                        const std::string& request_id,
                                                        const std::string& note) {
  Violations v;
  if (sku_id.empty()) v.Add("sku_id", "required");
  if (quantity <= 0) v.Add("quantity", "must be positive");
  if (quantity > 1'000'000'000) v.Add("quantity", "at most 1000000000 per receipt");
  if (request_id.empty()) v.Add("request_id", "required (idempotency key)");
  if (note.size() > 500) v.Add("note", "at most 500 characters");
  if (!v.empty()) return v.ToStatus("invalid ReceiveStock request");
  return repo_.ReceiveStock(sku_id, quantity, request_id, note);
}

absl::StatusOr<std::vector<StockLevel>> CatalogManager::GetStock(
    const std::vector<std::string>& ids) {
  if (auto s = ValidateIds(ids, "sku_ids"); !s.ok()) return s;
  return repo_.GetStock(ids);
}

absl::StatusOr<InvariantReport> CatalogManager::CheckInvariants(
    const std::vector<std::string>& ids) {
  if (!ids.empty()) {
    if (auto s = ValidateIds(ids, "sku_ids"); !s.ok()) return s;
  }
  return repo_.CheckInvariants(ids);
}

}  // namespace orderly::inventory
