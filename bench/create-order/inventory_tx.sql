-- The statements inventory runs for CreateOrder (GetSkus, then Reserve of three lines on the
-- database path), in the same transactions (pgbench; variables set by run.sh).
BEGIN;
SELECT sku_id, product_id, product_name, specs, price_minor, currency_code, sale_status,
       merchant_id, warehouse_id FROM skus
 WHERE sku_id = ANY(ARRAY['bench-sku-' || :s1, 'bench-sku-' || :s2, 'bench-sku-' || :s3]);
COMMIT;
BEGIN;
SELECT sku_id, sale_status, stock_buckets FROM skus
 WHERE sku_id = ANY(ARRAY['bench-sku-' || :s1, 'bench-sku-' || :s2, 'bench-sku-' || :s3])
 ORDER BY sku_id FOR SHARE;
SELECT order_id, state FROM reservations WHERE order_id = :oid::text;
UPDATE stock_buckets SET available = available - 1, reserved = reserved + 1
 WHERE sku_id = 'bench-sku-' || :s1 AND bucket_no = 0 AND available >= 1;
UPDATE stock_buckets SET available = available - 1, reserved = reserved + 1
 WHERE sku_id = 'bench-sku-' || :s2 AND bucket_no = 0 AND available >= 1;
UPDATE stock_buckets SET available = available - 1, reserved = reserved + 1
 WHERE sku_id = 'bench-sku-' || :s3 AND bucket_no = 0 AND available >= 1;
INSERT INTO reservations (order_id, state, order_type, fingerprint, expires_at, created_at, updated_at)
VALUES (:oid::text, 'RESERVED', 1, repeat('f', 64), now() + interval '35 minutes', now(), now());
INSERT INTO reservation_lines (order_id, sku_id, quantity, deduction_policy, state)
VALUES (:oid::text, 'bench-sku-' || :s1, 1, 1, 'RESERVED'), (:oid::text, 'bench-sku-' || :s2, 1, 1, 'RESERVED'),
       (:oid::text, 'bench-sku-' || :s3, 1, 1, 'RESERVED');
INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
VALUES (:oid::text, 'bench-sku-' || :s1, 0, 1), (:oid::text, 'bench-sku-' || :s2, 0, 1),
       (:oid::text, 'bench-sku-' || :s3, 0, 1);
INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last_sequence) VALUES ('reservation', :oid::text, 1)
ON CONFLICT (aggregate_type, aggregate_id)
DO UPDATE SET last_sequence = outbox_sequences.last_sequence + 1 RETURNING last_sequence;
INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
  event_type, payload, traceparent, occurred_at)
VALUES (gen_random_uuid(), 'orderly.inventory.v1', :oid::text, 'reservation', :oid::text, 1,
  'orderly.events.v1.StockReserved', decode(repeat('0a', 200), 'hex'), '', now());
SELECT pg_notify('orderly_outbox', '');
COMMIT;
