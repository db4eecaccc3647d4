-- The statements inventory runs for CreateOrder (GetSkus, then Reserve of three lines on the
-- database path), exactly as it sends them (pgbench; variables set by run.sh): two round trips,
-- each its own transaction (no BEGIN/COMMIT). Reserve is the single statement of
-- services/inventory/migrations/0002_reserve_function.sql (checks, reservation, lines, outbox,
-- conditional stock updates, allocations).
SELECT sku_id, product_id, product_name, specs::text, price_minor, currency_code, sale_status,
       merchant_id, warehouse_id, purchase_limit, deduction_policy, flash_sale, stock_buckets,
       low_stock_threshold, flash_epoch,
       (extract(epoch FROM created_at) * 1000)::bigint,
       (extract(epoch FROM updated_at) * 1000)::bigint
  FROM skus
 WHERE sku_id = ANY(ARRAY['bench-sku-' || :s1, 'bench-sku-' || :s2, 'bench-sku-' || :s3]);
SELECT outcome, sku_id, requested, available, policies, alloc_skus, alloc_buckets, alloc_qty
  FROM inventory_reserve(:oid::text, 1, false, repeat('f', 64),
                         ((extract(epoch FROM now()) + 2100) * 1000)::bigint,
                         (extract(epoch FROM now()) * 1000)::bigint,
                         ARRAY['bench-sku-' || :s1, 'bench-sku-' || :s2, 'bench-sku-' || :s3],
                         ARRAY[1, 1, 1]::bigint[], ARRAY[1, 1, 1], :oid::numeric,
                         gen_random_uuid(), 'orderly.inventory.v1', :oid::text,
                         'orderly.events.v1.StockReserved', decode(repeat('0a', 200), 'hex'), '',
                         (extract(epoch FROM now()) * 1000)::bigint);
