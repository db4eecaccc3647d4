#pragma once
// Applies order events to reservations inside the inbox transaction: OrderPaid -> Confirm,
// OrderCancelled (unpaid) -> Release. This is the repair path for a lost Confirm / Release RPC,
// so it is idempotent like the RPCs. Business refusals (already released, expired, not found)
// are logged and committed as handled; only infrastructure errors are returned for retry.
#include <pqxx/pqxx>

#include <absl/status/status.h>

#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "reservation_manager.hpp"

namespace orderly::inventory {

class OrderEventHandler {
 public:
  OrderEventHandler(ReservationManager& reservations, ClockPtr clock)
      : reservations_(reservations), clock_(std::move(clock)) {}

  absl::Status Handle(pqxx::transaction_base& tx, const events::v1::EventEnvelope& event);

 private:
  ReservationManager& reservations_;
  ClockPtr clock_;
};

// True for codes that mean "try again later" rather than "the answer is no".
bool IsRetryable(const absl::Status& s);

}  // namespace orderly::inventory
