#include "payment_events.hpp"

#include "orderly/core/proto_convert.hpp"

namespace orderly::payment {
namespace {

EventEnvelope PaymentEnvelope(const PaymentRow& p) {
  EventEnvelope env;
  env.set_aggregate_type("payment");
  env.set_aggregate_id(p.payment_id);
  env.set_order_id(p.order_id);
  return env;
}

}  // namespace

void SetTs(google::protobuf::Timestamp* ts, TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  ts->set_seconds(ms / 1000);
  ts->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}

v1::PaymentRefundState RefundStateOf(int64_t refunded, int64_t amount) {
  if (refunded <= 0) return v1::PAYMENT_REFUND_STATE_NONE;
  return refunded < amount ? v1::PAYMENT_REFUND_STATE_PARTIALLY_REFUNDED
                           : v1::PAYMENT_REFUND_STATE_REFUNDED;
}

EventEnvelope PaymentSucceededEvent(const PaymentRow& p, const std::string& transaction_id,
                                    TimePoint paid_at, bool after_close) {
  EventEnvelope env = PaymentEnvelope(p);
  auto* e = env.mutable_payment_succeeded();
  e->set_payment_id(p.payment_id);
  e->set_order_id(p.order_id);
  SetProtoMoney(e->mutable_amount(), p.amount, p.currency);
  e->set_channel(p.channel);
  e->set_method(p.method);
  e->set_channel_transaction_id(transaction_id);
  SetTs(e->mutable_paid_at(), paid_at);
  e->set_after_close(after_close);
  return env;
}

EventEnvelope PaymentFailedEvent(const PaymentRow& p, const std::string& failure, TimePoint at) {
  EventEnvelope env = PaymentEnvelope(p);
  auto* e = env.mutable_payment_failed();
  e->set_payment_id(p.payment_id);
  e->set_order_id(p.order_id);
  SetProtoMoney(e->mutable_amount(), p.amount, p.currency);
  e->set_channel(p.channel);
  e->set_failure_reason(failure);
  SetTs(e->mutable_failed_at(), at);
  return env;
}

EventEnvelope PaymentClosedEvent(const PaymentRow& p, const std::string& reason, TimePoint at) {
  EventEnvelope env = PaymentEnvelope(p);
  auto* e = env.mutable_payment_closed();
  e->set_payment_id(p.payment_id);
  e->set_order_id(p.order_id);
  e->set_channel(p.channel);
  e->set_reason(reason);
  SetTs(e->mutable_closed_at(), at);
  return env;
}

EventEnvelope RefundSucceededEvent(const PaymentRow& p, const RefundRow& r,
                                   const std::string& channel_refund_id, int64_t total_refunded,
                                   TimePoint at) {
  EventEnvelope env = PaymentEnvelope(p);
  auto* e = env.mutable_refund_succeeded();
  e->set_refund_id(r.refund_id);
  e->set_payment_id(r.payment_id);
  e->set_order_id(r.order_id);
  SetProtoMoney(e->mutable_amount(), r.amount, r.currency);
  e->set_reason(r.reason);
  e->set_after_sale_case_id(r.after_sale_case_id);
  e->set_channel_refund_id(channel_refund_id);
  SetTs(e->mutable_succeeded_at(), at);
  SetProtoMoney(e->mutable_total_refunded(), total_refunded, p.currency);
  e->set_refund_state(RefundStateOf(total_refunded, p.amount));
  return env;
}

EventEnvelope RefundFailedEvent(const PaymentRow& p, const RefundRow& r, v1::RefundStatus status,
                                const std::string& error, TimePoint at) {
  EventEnvelope env = PaymentEnvelope(p);
  auto* e = env.mutable_refund_failed();
  e->set_refund_id(r.refund_id);
  e->set_payment_id(r.payment_id);
  e->set_order_id(r.order_id);
  SetProtoMoney(e->mutable_amount(), r.amount, r.currency);
  e->set_reason(r.reason);
  e->set_after_sale_case_id(r.after_sale_case_id);
  e->set_status(status);
  e->set_error(error);
  e->set_attempts(r.attempts);
  SetTs(e->mutable_failed_at(), at);
  return env;
}

}  // namespace orderly::payment
