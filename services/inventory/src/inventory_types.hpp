#pragma once
// Domain records of the inventory service. Plain structs: the gRPC glue converts them to and
// from orderly.inventory.v1 messages, the repository to and from rows.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orderly/common/v1/order_type.pb.h"
#include "orderly/core/clock.hpp"
#include "orderly/inventory/v1/inventory.pb.h"

namespace orderly::inventory {

using common::v1::OrderType;
using v1::DeductionPolicy;
using v1::ReleaseReason;
using v1::SkuSaleStatus;

// The flash-sale pool: stock WarmFlashSale handed to Redis lives in this bucket.
inline constexpr int kFlashBucket = -1;
inline constexpr int kMaxBuckets = 64;

struct SkuRecord {
  std::string sku_id;
  std::string product_id;
  std::string product_name;
  std::map<std::string, std::string> specs;
  int64_t price_minor = 0;
  std::string currency_code;
  SkuSaleStatus sale_status = v1::SKU_SALE_STATUS_ON_SALE;
  std::string merchant_id;
  std::string warehouse_id;
  int32_t purchase_limit = 0;  // 0 = none
  DeductionPolicy deduction_policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
  bool flash_sale = false;
  int32_t stock_buckets = 1;
  int64_t low_stock_threshold = 0;
  int64_t flash_epoch = 0;  // 0 = never warmed
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct StockLevel {
  std::string sku_id;
  int64_t available = 0;
  int64_t reserved = 0;
  int64_t sold = 0;
  int64_t total_received = 0;
};

enum class ReservationState { kReserved, kConfirmed, kReleased, kExpired, kTombstone };
enum class LineState { kReserved, kConfirmed, kDeducted, kReleased, kExpired };

std::string_view ToString(ReservationState s);
std::string_view ToString(LineState s);
std::optional<ReservationState> ReservationStateFromString(std::string_view s);
std::optional<LineState> LineStateFromString(std::string_view s);

struct Allocation {
  int bucket_no = 0;
  int64_t quantity = 0;
};

struct ReservationLine {
  std::string sku_id;
  int64_t quantity = 0;
  DeductionPolicy policy = v1::DEDUCTION_POLICY_RESERVE_AT_ORDER;
  LineState state = LineState::kReserved;
  std::vector<Allocation> allocations;
};

enum class DecisionPath { kDatabase, kRedis };

struct Reservation {
  std::string order_id;
  ReservationState state = ReservationState::kReserved;
  OrderType order_type = common::v1::ORDER_TYPE_NORMAL;
  std::string fingerprint;
  DecisionPath path = DecisionPath::kDatabase;
  std::string grant_id;                // Redis path: the grant (stream entry id) persisted here
  std::vector<ReservationLine> lines;  // sorted by sku_id; empty for a tombstone
  TimePoint expires_at{};
  ReleaseReason release_reason = v1::RELEASE_REASON_UNSPECIFIED;
  int64_t version = 1;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// One line of a Reserve request.
struct ReserveItem {
  std::string sku_id;
  int64_t quantity = 0;
};

struct ReserveCommand {
  std::string order_id;
  std::vector<ReserveItem> items;
  std::optional<TimePoint> expires_at;  // unset: now + the payment window of the order type
  OrderType order_type = common::v1::ORDER_TYPE_NORMAL;
};

struct InvariantViolation {
  std::string sku_id;
  std::string invariant;
  std::string detail;
};

struct InvariantReport {
  std::vector<InvariantViolation> violations;
  int64_t checked_sku_count = 0;
};

}  // namespace orderly::inventory
