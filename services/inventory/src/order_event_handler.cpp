#include "order_event_handler.hpp"

#include <spdlog/spdlog.h>

#include "inventory_metrics.hpp"
#include "orderly/core/status.hpp"
#include "orderly/pg/pool.hpp"
#include "orderly/pg/query.hpp"
#include "pg_stock_repository.hpp"

namespace orderly::inventory {

bool IsRetryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted: return true;
    default: return false;
  }
}

absl::Status OrderEventHandler::Handle(pqxx::transaction_base& tx,
                                       const events::v1::EventEnvelope& event) {
  PgStockTx stx(tx, *clock_, topic_);
  if (event.has_order_paid()) {
    const auto& paid = event.order_paid();
    // A split order's children share the parent's reservation.
    const std::string order_id =
        paid.parent_order_id().empty() ? paid.order_id() : paid.parent_order_id();
    Outcome out;
    absl::Status s =
        pg::InSavepoint(tx, [&] { return reservations_.ConfirmInTx(stx, order_id, &out); });
    if (s.ok()) s = out.status;
    if (!s.ok() && IsRetryable(s)) return s;
    if (s.ok()) {
      metrics::CountConfirm("confirmed_by_event");
      return absl::OkStatus();
    }
    // The money is in but the reservation is gone (released by a Cancel that raced the payment,
    // or expired while the payment timeout ran late): take the units again if they are still
    // there, else tell order-core, which cancels the order and refunds it. Never silent.
    const std::string why = ErrorReason(s);
    if (why == "RESERVATION_RELEASED" || why == "RESERVATION_EXPIRED") {
      absl::Status again =
          pg::InSavepoint(tx, [&] { return reservations_.ReacquireInTx(stx, order_id, &out); });
      if (!again.ok() && IsRetryable(again)) return again;
      if (again.ok()) {
        metrics::CountConfirm("reacquired_by_event");
        spdlog::warn("OrderPaid {}: reservation was {}; its stock was taken again", order_id, why);
        return absl::OkStatus();
      }
      if (ErrorReason(again) == "INSUFFICIENT_STOCK") s = again;
    }
    bool emitted = false;
    absl::Status refused = pg::InSavepoint(tx, [&] {
      return reservations_.RefuseConfirmInTx(stx, order_id, paid.order_id(), s, &emitted);
    });
    if (!refused.ok()) return refused;  // retried, then dead-lettered: never dropped
    metrics::CountConfirm(emitted ? "refused_by_event" : "refused_again_by_event");
    spdlog::warn("OrderPaid {}: no stock behind the payment ({}); {}", order_id, s.ToString(),
                 emitted ? "StockConfirmRefused emitted" : "refusal already announced");
    return absl::OkStatus();
  }
  if (event.has_order_cancelled()) {
    const auto& c = event.order_cancelled();
    if (c.was_paid()) return absl::OkStatus();  // sold stock returns via after-sale
    const std::string order_id = c.parent_order_id().empty() ? c.order_id() : c.parent_order_id();
    const auto reason = c.reason() == order::v1::CANCEL_REASON_PAYMENT_TIMEOUT
                            ? v1::RELEASE_REASON_PAYMENT_TIMEOUT
                            : v1::RELEASE_REASON_ORDER_CANCELLED;
    Outcome out;
    absl::Status s =
        pg::InSavepoint(tx, [&] { return reservations_.ReleaseInTx(stx, order_id, reason, &out); });
    if (s.ok()) s = out.status;
    if (!s.ok() && IsRetryable(s)) return s;
    if (ErrorReason(s) == "RESERVATION_CONFIRMED") {
      // Sold, but the order ended unpaid: the units go back (no payment, no sale).
      bool returned = false;
      s = pg::InSavepoint(
          tx, [&] { return reservations_.ReturnUnpaidInTx(stx, order_id, reason, &returned); });
      if (!s.ok()) return s;
      metrics::CountRelease("sold_returned_by_event");
      spdlog::warn("OrderCancelled {} (unpaid): its confirmed stock went back to available",
                   order_id);
      return absl::OkStatus();
    }
    metrics::CountRelease(s.ok() ? "released_by_event" : "refused_by_event");
    if (!s.ok()) spdlog::warn("OrderCancelled {}: release refused: {}", order_id, s.ToString());
    return absl::OkStatus();
  }
  return absl::OkStatus();  // other order events do not concern stock
}

}  // namespace orderly::inventory
