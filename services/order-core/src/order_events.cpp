#include "order_events.hpp"

#include <absl/strings/str_cat.h>

#include "orderly/core/proto_convert.hpp"

namespace orderly::order_core {
namespace {

namespace ov1 = ::orderly::order::v1;
namespace ev1 = ::orderly::events::v1;

const ov1::OrderStatusTransition& LastTransition(const ov1::Order& o) {
  return o.status_history(o.status_history_size() - 1);
}

}  // namespace

void Address(ev1::EventEnvelope& env, const ov1::Order& o, const std::string& causation) {
  env.set_aggregate_type("order");
  env.set_aggregate_id(o.order_id());
  env.set_order_id(o.order_id());
  env.set_causation_id(causation);
}

ev1::EventEnvelope OrderCreated(const ov1::Order& o) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_created();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  *e->mutable_child_order_ids() = o.child_order_ids();
  e->set_buyer_id(o.buyer_id());
  e->set_merchant_id(o.merchant_id());
  e->set_order_type(o.order_type());
  *e->mutable_lines() = o.lines();
  *e->mutable_price() = o.price();
  *e->mutable_shipping_address() = o.shipping_address();
  *e->mutable_payment_deadline() = o.payment_deadline();
  *e->mutable_created_at() = o.created_at();
  e->set_version(1);
  return env;
}

ev1::EventEnvelope OrderPaid(const ov1::Order& o, const std::string& payment_id,
                             const ov1::Order& with_lines) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_paid();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  e->set_buyer_id(o.buyer_id());
  e->set_merchant_id(o.merchant_id());
  e->set_payment_id(payment_id);
  *e->mutable_amount() = o.price().payable_total();
  *e->mutable_paid_at() = o.paid_at();
  *e->mutable_shipping_address() = o.shipping_address();
  *e->mutable_transition() = LastTransition(o);
  e->set_version(o.version());
  *e->mutable_lines() = with_lines.lines();
  return env;
}

ev1::EventEnvelope OrderCancelled(const ov1::Order& o, ov1::CancelReason reason,
                                  const std::string& reason_text,
                                  const common::v1::Actor& cancelled_by, bool was_paid) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_cancelled();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  e->set_buyer_id(o.buyer_id());
  e->set_reason(reason);
  e->set_reason_text(reason_text);
  *e->mutable_cancelled_by() = cancelled_by;
  e->set_was_paid(was_paid);
  *e->mutable_cancelled_at() = o.cancelled_at();
  *e->mutable_transition() = LastTransition(o);
  e->set_version(o.version());
  return env;
}

ev1::EventEnvelope OrderRefundRequested(const ov1::Order& o, const RefundRequest& refund) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_refund_requested();
  e->set_order_id(o.order_id());
  e->set_payment_id(refund.payment_id);
  *e->mutable_amount() = refund.amount;
  e->set_reason(refund.reason);
  e->set_reason_text(refund.reason_text);
  e->set_refund_request_id(
      absl::StrCat("order:", o.order_id(), ":", refund.tag, ":", refund.payment_id));
  *e->mutable_requested_at() = ToProtoTimestamp(refund.requested_at);
  return env;
}

ev1::EventEnvelope OrderAddressChanged(const ov1::Order& o, const common::v1::Address& address,
                                       const common::v1::Actor& changed_by, TimePoint changed_at,
                                       int64_t version) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_address_changed();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  *e->mutable_shipping_address() = address;
  *e->mutable_changed_by() = changed_by;
  *e->mutable_changed_at() = ToProtoTimestamp(changed_at);
  e->set_version(version);
  return env;
}

ev1::EventEnvelope OrderCompleted(const ov1::Order& o) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_completed();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  e->set_auto_confirmed(false);
  *e->mutable_completed_at() = o.completed_at();
  *e->mutable_transition() = LastTransition(o);
  e->set_version(o.version());
  return env;
}

ev1::EventEnvelope OrderShipped(const ov1::Order& o, const std::string& shipment_id) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_shipped();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  e->add_shipment_ids(shipment_id);
  *e->mutable_shipped_at() = o.shipped_at();
  *e->mutable_transition() = LastTransition(o);
  e->set_version(o.version());
  return env;
}

ev1::EventEnvelope OrderDelivered(const ov1::Order& o) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_delivered();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  *e->mutable_delivered_at() = o.delivered_at();
  *e->mutable_transition() = LastTransition(o);
  e->set_version(o.version());
  return env;
}

ev1::EventEnvelope OrderStatusChanged(const ov1::Order& o,
                                      const ov1::OrderStatusTransition& transition,
                                      int64_t version) {
  ev1::EventEnvelope env;
  auto* e = env.mutable_order_status_changed();
  e->set_order_id(o.order_id());
  e->set_parent_order_id(o.parent_order_id());
  *e->mutable_transition() = transition;
  e->set_version(version);
  return env;
}

}  // namespace orderly::order_core
