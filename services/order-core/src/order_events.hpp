#pragma once
// The order events (proto/orderly/events/v1/order_events.proto), built in one place. Each
// builder takes the order as the domain holds it after the change (status, version, timestamps
// and the transition as the last history row) and returns the payload in an envelope the caller
// addresses (Address) and appends to the outbox in the same transaction.
#include <cstdint>
#include <string>

#include "orderly/common/v1/actor.pb.h"
#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "orderly/order/v1/order.pb.h"
#include "orderly/payment/v1/payment.pb.h"

namespace orderly::order_core {

// The aggregate (the order), the order id that keys the partition, and the causation.
void Address(events::v1::EventEnvelope& env, const order::v1::Order& o,
             const std::string& causation);

// One per order of a create (parent and children), version 1.
events::v1::EventEnvelope OrderCreated(const order::v1::Order& o);
// `with_lines`: the unit loaded in full (a status change does not load its lines).
events::v1::EventEnvelope OrderPaid(const order::v1::Order& o, const std::string& payment_id,
                                    const order::v1::Order& with_lines);
events::v1::EventEnvelope OrderCancelled(const order::v1::Order& o, order::v1::CancelReason reason,
                                         const std::string& reason_text,
                                         const common::v1::Actor& cancelled_by, bool was_paid);
struct RefundRequest {
  std::string payment_id;
  common::v1::Money amount;
  payment::v1::RefundReason reason = payment::v1::REFUND_REASON_UNSPECIFIED;
  std::string reason_text;
  // Why, in the idempotency key order:<id>:<tag>:<payment id> (the payment's refund request id).
  std::string tag;
  TimePoint requested_at{};
};
events::v1::EventEnvelope OrderRefundRequested(const order::v1::Order& o,
                                               const RefundRequest& refund);
events::v1::EventEnvelope OrderAddressChanged(const order::v1::Order& o,
                                              const common::v1::Address& address,
                                              const common::v1::Actor& changed_by,
                                              TimePoint changed_at, int64_t version);
events::v1::EventEnvelope OrderCompleted(const order::v1::Order& o);
events::v1::EventEnvelope OrderShipped(const order::v1::Order& o, const std::string& shipment_id);
events::v1::EventEnvelope OrderDelivered(const order::v1::Order& o);
// A status change with no event of its own (acceptance; a parent following its children).
events::v1::EventEnvelope OrderStatusChanged(const order::v1::Order& o,
                                             const order::v1::OrderStatusTransition& transition,
                                             int64_t version);

}  // namespace orderly::order_core
