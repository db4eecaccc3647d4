#pragma once
// Applies order events to reservations inside the inbox transaction: OrderPaid -> Confirm,
// OrderCancelled (unpaid) -> Release. It is idempotent like the RPCs. An OrderPaid whose
// reservation was released or has expired takes the stock again when it is still available
// (StockDeducted reacquired), else it records the refusal and emits StockConfirmRefused, on
// which order-core cancels and refunds the order; a refused confirm never ends in a log line
// only. Infrastructure errors are returned for retry.
#include <absl/status/status.h>

#include <pqxx/pqxx>

#include "orderly/core/clock.hpp"
#include "orderly/events/outbox.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "reservation_manager.hpp"

namespace orderly::inventory {

class OrderEventHandler {
 public:
  // topic: where the events it causes go (the repository's topic).
  OrderEventHandler(ReservationManager& reservations, ClockPtr clock,
                    std::string topic = events::kInventoryTopic)
      : reservations_(reservations), clock_(std::move(clock)), topic_(std::move(topic)) {}

  absl::Status Handle(pqxx::transaction_base& tx, const events::v1::EventEnvelope& event);

 private:
  ReservationManager& reservations_;
  ClockPtr clock_;
  std::string topic_;
};

// True for codes that mean "try again later" rather than "the answer is no".
bool IsRetryable(const absl::Status& s);

}  // namespace orderly::inventory
