-- The statements CreateOrder issues on order-core's database, for one order of three lines,
-- grouped in the same transactions (pgbench; variables set by the \set lines run.sh prepends).
BEGIN;
SELECT order_id, status, version, request_fingerprint FROM orders WHERE order_id = :oid;
SELECT (SELECT tier FROM buyer_memberships WHERE buyer_id = 'b' || :buyer),
       (SELECT balance FROM points_accounts WHERE buyer_id = 'b' || :buyer);
COMMIT;
BEGIN;
SET LOCAL synchronous_commit = off;
INSERT INTO create_intents (order_id, buyer_id, created_at) VALUES (:oid, 'b' || :buyer, now())
ON CONFLICT (order_id) DO NOTHING;
COMMIT;
BEGIN;
INSERT INTO orders (order_id, parent_order_id, is_top_level, is_fulfillment_unit, buyer_id,
  merchant_id, warehouse_id, order_type, status, currency, items_total, activity_discount,
  member_discount, coupon_discount, points_discount, points_used, shipping_fee, payable_total,
  shipping_address, coupon_ids, client_note, request_id, request_fingerprint, payment_deadline,
  created_at, updated_at, version)
VALUES (:oid, NULL, true, true, 'b' || :buyer, 'm1', 'w1', 1, 1, 'CNY', 5997, 0, 0, 0, 0, 0, 0,
  5997, decode(repeat('0a', 80), 'hex'), '{}', '', 'r' || :oid, repeat('f', 64),
  now() + interval '30 minutes', now(), now(), 1);
INSERT INTO order_lines (top_order_id, line_no, order_id, sku_id, merchant_id, quantity,
  unit_price, base_amount, promotion_discount, member_discount, coupon_discount, points_discount,
  final_amount, snapshot)
VALUES (:oid, 1, :oid, 'bench-sku-1', 'm1', 1, 1999, 1999, 0, 0, 0, 0, 1999, decode(repeat('0a', 150), 'hex')),
       (:oid, 2, :oid, 'bench-sku-2', 'm1', 1, 1999, 1999, 0, 0, 0, 0, 1999, decode(repeat('0a', 150), 'hex')),
       (:oid, 3, :oid, 'bench-sku-3', 'm1', 1, 1999, 1999, 0, 0, 0, 0, 1999, decode(repeat('0a', 150), 'hex'));
INSERT INTO order_status_history (order_id, from_status, to_status, action, actor_role, actor_id,
  reason, occurred_at) VALUES (:oid, 0, 1, 'create', 1, 'b' || :buyer, '', now());
WITH t AS (INSERT INTO order_timers (order_id, due_at) VALUES (:oid, now() + interval '30 minutes')
           ON CONFLICT (order_id) DO NOTHING)
DELETE FROM create_intents WHERE order_id = :oid;
INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last_sequence) VALUES ('order', :oid::text, 1)
ON CONFLICT (aggregate_type, aggregate_id)
DO UPDATE SET last_sequence = outbox_sequences.last_sequence + 1 RETURNING last_sequence;
INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
  event_type, payload, traceparent, occurred_at)
VALUES (gen_random_uuid(), 'orderly.order.v1', :oid::text, 'order', :oid::text, 1,
  'orderly.events.v1.OrderCreated', decode(repeat('0a', 700), 'hex'), '', now());
SELECT pg_notify('orderly_outbox', '');
COMMIT;
