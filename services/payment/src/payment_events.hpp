#pragma once
// Every event payment emits, built in one place (topic orderly.payment.v1; the contract is
// proto/orderly/events/v1/payment_events.proto). A payment's and its refunds' events share the
// payment's aggregate ("payment" / payment_id), keyed by the order.
#include <cstdint>
#include <string>

#include "orderly/core/clock.hpp"
#include "orderly/events/v1/event_envelope.pb.h"
#include "payment_repository.hpp"

namespace orderly::payment {

using EventEnvelope = events::v1::EventEnvelope;

EventEnvelope PaymentSucceededEvent(const PaymentRow& p, const std::string& transaction_id,
                                    TimePoint paid_at, bool after_close);
EventEnvelope PaymentFailedEvent(const PaymentRow& p, const std::string& failure, TimePoint at);
EventEnvelope PaymentClosedEvent(const PaymentRow& p, const std::string& reason, TimePoint at);
// total_refunded: the payment's refunded amount including this refund.
EventEnvelope RefundSucceededEvent(const PaymentRow& p, const RefundRow& r,
                                   const std::string& channel_refund_id, int64_t total_refunded,
                                   TimePoint at);
EventEnvelope RefundFailedEvent(const PaymentRow& p, const RefundRow& r, v1::RefundStatus status,
                                const std::string& error, TimePoint at);

// NONE, PARTIALLY_REFUNDED or REFUNDED for `refunded` of `amount`.
v1::PaymentRefundState RefundStateOf(int64_t refunded, int64_t amount);
// Millisecond precision, as the database keeps it.
void SetTs(google::protobuf::Timestamp* ts, TimePoint t);

}  // namespace orderly::payment
