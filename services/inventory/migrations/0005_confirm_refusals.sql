-- An OrderPaid that inventory could not back with stock (reservation released or expired and the
-- units gone, a DEDUCT_AT_PAYMENT line sold out, no reservation). One row per reservation: the
-- refusal is final (order-core cancels and refunds the order), so a later OrderPaid of the same
-- order (a split order's other children, a redelivery) neither re-acquires stock for an order
-- being refunded nor emits a second StockConfirmRefused.
CREATE TABLE confirm_refusals (
  order_id   text PRIMARY KEY,
  reason     text        NOT NULL,
  refused_at timestamptz NOT NULL
);
