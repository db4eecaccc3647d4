#pragma once
// The SKU catalog and stock receipts: validation and paging around the repository.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <string>
#include <vector>

#include "inventory_types.hpp"
#include "stock_repository.hpp"

namespace orderly::inventory {

inline constexpr int kMaxBatchIds = 200;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 200;

struct SkuPage {
  std::vector<SkuRecord> skus;
  std::string next_page_token;
};

// INVALID_ARGUMENT with field violations (paths under "sku.") or OK.
absl::Status ValidateSku(const SkuRecord& sku);
// Batch of ids: 1..200, none empty, no duplicates; `field` names the repeated field.
absl::Status ValidateIds(const std::vector<std::string>& ids, const std::string& field);

// Opaque page tokens bound to the filter they were issued for.
std::string EncodePageToken(const std::string& merchant_id, SkuSaleStatus status,
                            const std::string& last_sku_id);
absl::StatusOr<std::string> DecodePageToken(const std::string& token,
                                            const std::string& merchant_id, SkuSaleStatus status);

class CatalogManager {
 public:
  explicit CatalogManager(StockRepository& repo) : repo_(repo) {}

  // In request order; NOT_FOUND SKU_NOT_FOUND names the first missing id.
  absl::StatusOr<std::vector<SkuRecord>> GetSkus(const std::vector<std::string>& ids);
  absl::StatusOr<SkuPage> ListSkus(const std::string& merchant_id, SkuSaleStatus status,
                                   int page_size, const std::string& page_token);
  absl::StatusOr<SkuRecord> UpsertSku(const SkuRecord& sku);
  absl::StatusOr<StockLevel> ReceiveStock(const std::string& sku_id, int64_t quantity,
                                          const std::string& request_id, const std::string& note);
  absl::StatusOr<std::vector<StockLevel>> GetStock(const std::vector<std::string>& ids);
  absl::StatusOr<InvariantReport> CheckInvariants(const std::vector<std::string>& ids);

 private:
  StockRepository& repo_;
};

}  // namespace orderly::inventory
