#include "order_event_handler.hpp"

#include <spdlog/spdlog.h>

#include "inventory_metrics.hpp"
#include "orderly/pg/pool.hpp"
#include "pg_stock_repository.hpp"

namespace orderly::inventory {

bool IsRetryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

namespace {

// Runs fn under a savepoint so a refusal leaves no partial writes in the inbox transaction,
// which still commits (marking the event handled).
absl::Status InSavepoint(pqxx::transaction_base& tx, const std::function<absl::Status()>& fn) {
  try {
    tx.exec("SAVEPOINT inventory_event");
    absl::Status s = fn();
    tx.exec(s.ok() ? "RELEASE SAVEPOINT inventory_event"
                   : "ROLLBACK TO SAVEPOINT inventory_event");
    return s;
  } catch (...) {
    return pg::StatusFromCurrentException();
  }
}

}  // namespace

absl::Status OrderEventHandler::Handle(pqxx::transaction_base& tx,
                                       const events::v1::EventEnvelope& event) {
  PgStockTx stx(tx, *clock_);
  if (event.has_order_paid()) {
    const auto& paid = event.order_paid();
    // A split order's children share the parent's reservation.
    const std::string order_id =
        paid.parent_order_id().empty() ? paid.order_id() : paid.parent_order_id();
    Outcome out;
    absl::Status s = InSavepoint(tx, [&] { return reservations_.ConfirmInTx(stx, order_id, &out); });
    if (s.ok()) s = out.status;
    if (!s.ok() && IsRetryable(s)) return s;
    metrics::CountConfirm(s.ok() ? "confirmed_by_event" : "refused_by_event");
    if (!s.ok()) {
      // Order-core confirms synchronously and refunds on refusal; this path only repairs.
      spdlog::warn("OrderPaid {}: confirm refused: {}", order_id, s.ToString());
    }
    return absl::OkStatus();
  }
  if (event.has_order_cancelled()) {
    const auto& c = event.order_cancelled();
    if (c.was_paid()) return absl::OkStatus();  // sold stock returns via after-sale
    const std::string order_id =
        c.parent_order_id().empty() ? c.order_id() : c.parent_order_id();
    const auto reason = c.reason() == order::v1::CANCEL_REASON_PAYMENT_TIMEOUT
                            ? v1::RELEASE_REASON_PAYMENT_TIMEOUT
                            : v1::RELEASE_REASON_ORDER_CANCELLED;
    Outcome out;
    absl::Status s =
        InSavepoint(tx, [&] { return reservations_.ReleaseInTx(stx, order_id, reason, &out); });
    if (s.ok()) s = out.status;
    if (!s.ok() && IsRetryable(s)) return s;
    metrics::CountRelease(s.ok() ? "released_by_event" : "refused_by_event");
    if (!s.ok()) spdlog::warn("OrderCancelled {}: release refused: {}", order_id, s.ToString());
    return absl::OkStatus();
  }
  return absl::OkStatus();  // other order events do not concern stock
}

}  // namespace orderly::inventory
