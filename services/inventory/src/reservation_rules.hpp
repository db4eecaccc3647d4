#pragma once
// The rules of reservations as pure functions: request validation, idempotency fingerprints,
// the payment window, bucket choice, and what Reserve / Confirm / Release do from each state.
// No I/O here, so *_test.cpp covers every branch.
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "inventory_types.hpp"

namespace orderly::inventory {

inline constexpr int kMaxReserveItems = 50;
// A hard ceiling on one line, independent of the SKU's purchase limit.
inline constexpr int64_t kMaxLineQuantity = 100000;

struct PaymentWindows {
  std::chrono::milliseconds normal = std::chrono::minutes(30);
  std::chrono::milliseconds flash_sale = std::chrono::minutes(5);
  // expires_at given by the caller may lie at most this far ahead.
  std::chrono::milliseconds max_ahead = std::chrono::hours(2);
};

// INVALID_ARGUMENT with one field violation per problem (order_id, items, items[i].sku_id,
// items[i].quantity, expires_at, order_type), or OK.
absl::Status ValidateReserve(const ReserveCommand& cmd, TimePoint now,
                             const PaymentWindows& windows);

// Canonical text of what was asked (type and sorted lines); a retry must produce the same.
std::string Fingerprint(const ReserveCommand& cmd);

// The caller's expires_at, or now + the payment window of the order type.
TimePoint ExpiryOf(const ReserveCommand& cmd, TimePoint now, const PaymentWindows& windows);

// Checks the items against their SKUs (all-or-nothing, in request order): NOT_FOUND
// SKU_NOT_FOUND for the first unknown id, FAILED_PRECONDITION SKU_OFF_SALE, INVALID_ARGUMENT
// (items[i].quantity, ErrorInfo PURCHASE_LIMIT_EXCEEDED) over the purchase limit, and
// FAILED_PRECONDITION FLASH_SALE_NOT_READY when order type and SKU kind disagree or a flash-sale
// SKU was never warmed.
absl::Status CheckAgainstCatalog(const ReserveCommand& cmd,
                                 const std::map<std::string, SkuRecord>& skus);

// Buckets to try for an order: all ordinary buckets starting at one picked by the order id, so
// concurrent orders spread over the rows. A flash-sale SKU uses its pool only.
std::vector<int> BucketOrder(const std::string& order_id, const SkuRecord& sku);

absl::Status InsufficientStock(const std::string& sku_id, int64_t requested, int64_t available);

// A Reserve for an order that already has a reservation: OK = return the existing one
// (a retry); otherwise the error to report.
absl::Status ReserveRetryOutcome(const Reservation& existing, const std::string& fingerprint,
                                 TimePoint now);

enum class ConfirmAction { kReturnExisting, kConfirm, kExpire };
// kExpire: the reservation lapsed but the sweeper has not run yet; it is expired now and the
// caller gets RESERVATION_EXPIRED (ExpiredError) so payment refunds.
absl::StatusOr<ConfirmAction> DecideConfirm(const Reservation& r, TimePoint now);

enum class ReleaseAction { kReturnExisting, kRelease };
absl::StatusOr<ReleaseAction> DecideRelease(const Reservation& r);

absl::Status ExpiredError(const std::string& order_id);
absl::Status ReleasedError(const std::string& order_id);
absl::Status ReservationNotFound(const std::string& order_id);
// NOT_FOUND naming the SKU, ErrorInfo SKU_NOT_FOUND with metadata sku_id.
absl::Status SkuNotFound(const std::string& sku_id);

// A copy of `s` that also carries an ErrorInfo{reason, metadata}.
absl::Status WithErrorInfo(absl::Status s, std::string_view reason,
                           const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace orderly::inventory
