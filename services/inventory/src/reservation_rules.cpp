#include "reservation_rules.hpp"

#include <absl/strings/str_cat.h>

#include <algorithm>
#include <array>
#include <functional>
#include <set>

#include "orderly/core/status.hpp"

namespace orderly::inventory {

absl::Status WithErrorInfo(absl::Status s, std::string_view reason,
                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  absl::Status info = ErrorWithInfo(s.code(), std::string(s.message()), reason, metadata);
  info.ForEachPayload(
      [&s](absl::string_view url, const absl::Cord& payload) { s.SetPayload(url, payload); });
  return s;
}

absl::Status ValidateReserve(const ReserveCommand& cmd, TimePoint now,
                             const PaymentWindows& windows) {
  Violations v;
  if (cmd.order_id.empty()) v.Add("order_id", "required");
  if (cmd.order_id.size() > 64) v.Add("order_id", "at most 64 characters");
  if (cmd.items.empty()) v.Add("items", "at least one item is required");
  if (cmd.items.size() > kMaxReserveItems) {
    v.Add("items", absl::StrCat("at most ", kMaxReserveItems, " items"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < cmd.items.size(); ++i) {
    const auto& it = cmd.items[i];
    const std::string at = absl::StrCat("items[", i, "]");
    if (it.sku_id.empty()) {
      v.Add(at + ".sku_id", "required");
    } else if (!seen.insert(it.sku_id).second) {
      v.Add(at + ".sku_id", "duplicate SKU " + it.sku_id + ": merge the lines");
    }
    if (it.quantity <= 0) {
      v.Add(at + ".quantity", "must be positive");
    } else if (it.quantity > kMaxLineQuantity) {
      v.Add(at + ".quantity", absl::StrCat("at most ", kMaxLineQuantity));
    }
  }
  if (cmd.order_type != common::v1::ORDER_TYPE_NORMAL &&
      cmd.order_type != common::v1::ORDER_TYPE_FLASH_SALE &&
      cmd.order_type != common::v1::ORDER_TYPE_UNSPECIFIED) {
    v.Add("order_type", "unknown order type");
  }
  if (cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE && cmd.items.size() > 1) {
    v.Add("items", "a flash-sale order has exactly one line");
  }
  if (cmd.expires_at) {
    if (*cmd.expires_at <= now) v.Add("expires_at", "must be in the future");
    if (*cmd.expires_at > now + windows.max_ahead) {
      v.Add(
          "expires_at",
          absl::StrCat("at most ",
                       std::chrono::duration_cast<std::chrono::minutes>(windows.max_ahead).count(),
                       " minutes ahead"));
    }
  }
  return v.ToStatus("invalid Reserve request");
}

std::string Fingerprint(const ReserveCommand& cmd) {
  std::vector<std::pair<std::string, int64_t>> lines;
  for (const auto& it : cmd.items) lines.emplace_back(it.sku_id, it.quantity);
  std::sort(lines.begin(), lines.end());
  std::string out = absl::StrCat("t", static_cast<int>(cmd.order_type) == 0 ? 1 : cmd.order_type);
  for (const auto& [sku, q] : lines) absl::StrAppend(&out, ";", sku, "=", q);
  return out;
}

TimePoint ExpiryOf(const ReserveCommand& cmd, TimePoint now, const PaymentWindows& windows) {
  if (cmd.expires_at) return *cmd.expires_at;
  return now + (cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE ? windows.flash_sale
                                                                    : windows.normal);
}

absl::Status CheckAgainstCatalog(const ReserveCommand& cmd,
                                 const std::map<std::string, SkuRecord>& skus) {
  for (const auto& it : cmd.items) {
    if (!skus.count(it.sku_id)) return SkuNotFound(it.sku_id);
  }
  const bool flash_order = cmd.order_type == common::v1::ORDER_TYPE_FLASH_SALE;
  for (const auto& it : cmd.items) {
    const SkuRecord& sku = skus.at(it.sku_id);
    const std::string subject = "sku/" + sku.sku_id;
    if (sku.sale_status != v1::SKU_SALE_STATUS_ON_SALE) {
      return FailedPreconditionError("SKU_OFF_SALE", subject, "SKU " + sku.sku_id + " is off sale",
                                     {{"sku_id", sku.sku_id}});
    }
    if (flash_order && !sku.flash_sale) {
      return FailedPreconditionError("FLASH_SALE_NOT_READY", subject,
                                     "SKU " + sku.sku_id + " is not a flash-sale SKU",
                                     {{"sku_id", sku.sku_id}});
    }
    if (!flash_order && sku.flash_sale) {
      return FailedPreconditionError(
          "FLASH_SALE_NOT_READY", subject,
          "flash-sale SKU " + sku.sku_id + " is sold to FLASH_SALE orders only",
          {{"sku_id", sku.sku_id}});
    }
    if (flash_order && sku.flash_epoch == 0) {
      return FailedPreconditionError("FLASH_SALE_NOT_READY", subject,
                                     "flash sale of SKU " + sku.sku_id + " is not warmed yet",
                                     {{"sku_id", sku.sku_id}});
    }
  }
  Violations over;
  std::string first_sku;
  int32_t first_limit = 0;
  for (size_t i = 0; i < cmd.items.size(); ++i) {
    const SkuRecord& sku = skus.at(cmd.items[i].sku_id);
    if (sku.purchase_limit > 0 && cmd.items[i].quantity > sku.purchase_limit) {
      over.Add(
          absl::StrCat("items[", i, "].quantity"),
          absl::StrCat("SKU ", sku.sku_id, " allows at most ", sku.purchase_limit, " per order"));
      if (first_sku.empty()) {
        first_sku = sku.sku_id;
        first_limit = sku.purchase_limit;
      }
    }
  }
  if (!over.empty()) {
    return WithErrorInfo(over.ToStatus("purchase limit exceeded"), "PURCHASE_LIMIT_EXCEEDED",
                         {{"sku_id", first_sku}, {"limit", std::to_string(first_limit)}});
  }
  return absl::OkStatus();
}

std::vector<int> BucketOrder(const std::string& order_id, const SkuRecord& sku) {
  if (sku.flash_sale) return {kFlashBucket};
  const int n = std::max(1, sku.stock_buckets);
  const int start = static_cast<int>(std::hash<std::string>{}(order_id) % n);
  std::vector<int> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back((start + i) % n);
  return out;
}

absl::Status InsufficientStock(const std::string& sku_id, int64_t requested, int64_t available) {
  available = std::max<int64_t>(available, 0);
  // A sold-out sale answers the same refusal thousands of times a second: building its two
  // serialized details costs more than the Redis decision. A status is immutable and shares its
  // payloads on copy, so each thread keeps the last few it built.
  struct Entry {
    std::string sku_id;
    int64_t requested = -1;
    int64_t available = -1;
    absl::Status status;
  };
  thread_local std::array<Entry, 8> recent;
  thread_local size_t next = 0;
  for (const Entry& e : recent) {
    if (e.requested == requested && e.available == available && e.sku_id == sku_id) {
      return e.status;
    }
  }
  absl::Status s = FailedPreconditionError(
      "INSUFFICIENT_STOCK", "sku/" + sku_id,
      absl::StrCat("SKU ", sku_id, ": ", requested, " requested, ", available, " available"),
      {{"sku_id", sku_id},
       {"requested", std::to_string(requested)},
       {"available", std::to_string(available)}});
  recent[next] = Entry{sku_id, requested, available, s};
  next = (next + 1) % recent.size();
  return s;
}

absl::Status ExpiredError(const std::string& order_id) {
  return FailedPreconditionError(
      "RESERVATION_EXPIRED", "order/" + order_id,
      "reservation of order " + order_id + " expired and its stock was returned",
      {{"order_id", order_id}, {"current_state", "EXPIRED"}});
}

absl::Status ReleasedError(const std::string& order_id) {
  return FailedPreconditionError("RESERVATION_RELEASED", "order/" + order_id,
                                 "reservation of order " + order_id + " was released",
                                 {{"order_id", order_id}, {"current_state", "RELEASED"}});
}

absl::Status ReservationNotFound(const std::string& order_id) {
  return WithErrorInfo(
      NotFoundError("reservation", order_id, "RESERVATION_NOT_FOUND"), "RESERVATION_NOT_FOUND",
      {{"order_id", order_id}, {"resource_type", "reservation"}, {"resource_name", order_id}});
}

absl::Status SkuNotFound(const std::string& sku_id) {
  return WithErrorInfo(NotFoundError("sku", sku_id, "SKU_NOT_FOUND"), "SKU_NOT_FOUND",
                       {{"sku_id", sku_id}, {"resource_type", "sku"}, {"resource_name", sku_id}});
}

absl::Status ReserveRetryOutcome(const Reservation& existing, const std::string& fingerprint,
                                 TimePoint now) {
  switch (existing.state) {
    case ReservationState::kTombstone:
    case ReservationState::kReleased: return ReleasedError(existing.order_id);
    case ReservationState::kExpired: return ExpiredError(existing.order_id);
    case ReservationState::kReserved:
    case ReservationState::kConfirmed: break;
  }
  if (existing.fingerprint != fingerprint) {
    return ErrorWithInfo(absl::StatusCode::kAlreadyExists,
                         "order " + existing.order_id + " already reserved different lines",
                         "REQUEST_FINGERPRINT_MISMATCH", {{"order_id", existing.order_id}});
  }
  if (existing.state == ReservationState::kReserved && existing.expires_at <= now) {
    return ExpiredError(existing.order_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfirmAction> DecideConfirm(const Reservation& r, TimePoint now) {
  switch (r.state) {
    case ReservationState::kConfirmed: return ConfirmAction::kReturnExisting;
    case ReservationState::kTombstone:
    case ReservationState::kReleased: return ReleasedError(r.order_id);
    case ReservationState::kExpired: return ExpiredError(r.order_id);
    case ReservationState::kReserved:
      return r.expires_at <= now ? ConfirmAction::kExpire : ConfirmAction::kConfirm;
  }
  return absl::InternalError("unknown reservation state");
}

absl::StatusOr<ReleaseAction> DecideRelease(const Reservation& r) {
  switch (r.state) {
    case ReservationState::kConfirmed:
      return FailedPreconditionError(
          "RESERVATION_CONFIRMED", "order/" + r.order_id,
          "reservation of order " + r.order_id + " is confirmed: sold stock returns via after-sale",
          {{"order_id", r.order_id}, {"current_state", "CONFIRMED"}});
    case ReservationState::kTombstone:
    case ReservationState::kReleased:
    case ReservationState::kExpired: return ReleaseAction::kReturnExisting;
    case ReservationState::kReserved: return ReleaseAction::kRelease;
  }
  return absl::InternalError("unknown reservation state");
}

}  // namespace orderly::inventory
