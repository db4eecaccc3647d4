-- inventory_reserve (migration 0002) with a lock order that cannot deadlock on a bucketed SKU.
--
-- An UPDATE that waited for a row and then finds it no longer matches (available < q after the
-- holder committed) still holds that row's lock until the statement ends. Step 2 of 0002 waited
-- bucket by bucket in the order's own rotation (pick, pick + 1, ... wrapping), so near a
-- sell-out two orders could each hold the bucket the other waited for next: a deadlock, found by
-- PostgreSQL only after deadlock_timeout (1 s), the loser retried by the caller. The flash-sale
-- benchmark's bucketed run had 14 of them while selling 1,000 units, and 6-9 of the 16 reserve
-- workers sat in lock waits for seconds after the sell-out while refusals queued behind them.
-- (FOR UPDATE ... SKIP LOCKED in step 1 can keep such a lock too.) Now on a bucketed SKU:
--  * step 1 and every wait of step 2 run in a subtransaction that is rolled back when it took
--    nothing, which releases the lock it kept;
--  * step 2 first re-reads the lock-free sum (sold out meanwhile: refuse at once, IV001,
--    waiting for nothing) and then waits only for buckets holding enough, in ascending
--    bucket_no, the order of the split (step 3).
-- So while an order waits for a bucket it holds none of that SKU's buckets except its split's,
-- taken in ascending order: waits cannot form a cycle. One-row SKUs and flash pools wait for
-- their one row as before. Everything else is 0002's. IV009 is internal (never leaves here).
CREATE OR REPLACE FUNCTION inventory_reserve(
    p_order_id text, p_order_type integer, p_flash_order boolean, p_fingerprint text,
    p_expires_ms bigint, p_now_ms bigint, p_skus text[], p_qty bigint[], p_policies integer[],
    p_hash numeric, p_event_id uuid, p_topic text, p_partition_key text, p_event_type text,
    p_payload bytea, p_traceparent text, p_occurred_ms bigint)
RETURNS TABLE (outcome text, sku_id text, requested bigint, available bigint, policies integer[],
               alloc_skus text[], alloc_buckets integer[], alloc_qty bigint[])
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  n_lines   integer := cardinality(p_skus);
  cat       record;
  line      record;
  actual    integer[];
  mismatch  boolean := false;
  avail     bigint;
  nb        integer;
  pick      integer;
  b         integer;
  got       integer;
  take      bigint;
  remaining bigint;
  a_skus    text[] := '{}';
  a_buckets integer[] := '{}';
  a_qty     bigint[] := '{}';
  flipped   integer;
BEGIN
  PERFORM 1 FROM reservations r WHERE r.order_id = p_order_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::bigint, NULL::bigint, NULL::integer[],
                        NULL::text[], NULL::integer[], NULL::bigint[];
    RETURN;
  END IF;

  -- The catalog, in request order; any refusal is worded by the caller.
  actual := array_fill(0, ARRAY[n_lines]);
  FOR i IN 1 .. n_lines LOOP
    SELECT s.sale_status, s.flash_sale, s.flash_epoch, s.purchase_limit, s.deduction_policy
      INTO cat FROM skus s WHERE s.sku_id = p_skus[i];
    IF NOT FOUND OR cat.sale_status <> 1 OR cat.flash_sale <> p_flash_order
       OR (p_flash_order AND cat.flash_epoch = 0)
       OR (cat.purchase_limit > 0 AND p_qty[i] > cat.purchase_limit) THEN
      RETURN QUERY SELECT 'catalog'::text, p_skus[i], NULL::bigint, NULL::bigint,
                          NULL::integer[], NULL::text[], NULL::integer[], NULL::bigint[];
      RETURN;
    END IF;
    -- flash-sale SKUs always reserve at order
    actual[i] := CASE WHEN cat.flash_sale THEN 1 ELSE cat.deduction_policy END;
    IF actual[i] <> p_policies[i] THEN mismatch := true; END IF;
  END LOOP;
  IF mismatch THEN
    RETURN QUERY SELECT 'policy'::text, NULL::text, NULL::bigint, NULL::bigint, actual,
                        NULL::text[], NULL::integer[], NULL::bigint[];
    RETURN;
  END IF;

  -- Lock-free look at the stock, request order.
  FOR i IN 1 .. n_lines LOOP
    SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
     WHERE sb.sku_id = p_skus[i];
    IF avail < p_qty[i] THEN
      RETURN QUERY SELECT 'insufficient'::text, p_skus[i], p_qty[i], avail, NULL::integer[],
                          NULL::text[], NULL::integer[], NULL::bigint[];
      RETURN;
    END IF;
  END LOOP;

  -- Writes. The reservation row first: a concurrent duplicate waits here for the winner and then
  -- finds its row, before either touched stock.
  INSERT INTO reservations (order_id, state, order_type, fingerprint, path, expires_at,
                            release_reason, version, created_at, updated_at, grant_id)
  VALUES (p_order_id, 'RESERVED', p_order_type, p_fingerprint, 'db',
          to_timestamp(p_expires_ms::double precision / 1000), 0, 1,
          to_timestamp(p_now_ms::double precision / 1000),
          to_timestamp(p_now_ms::double precision / 1000), '')
  ON CONFLICT (order_id) DO NOTHING;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'exists'::text, NULL::text, NULL::bigint, NULL::bigint, NULL::integer[],
                        NULL::text[], NULL::integer[], NULL::bigint[];
    RETURN;
  END IF;
  INSERT INTO reservation_lines (order_id, sku_id, quantity, deduction_policy, state)
  SELECT p_order_id, u.sku, u.qty, u.policy, 'RESERVED'
    FROM unnest(p_skus, p_qty, p_policies) AS u(sku, qty, policy);
  got := orderly_outbox_append(p_event_id, p_topic, p_partition_key, 'reservation',
      p_order_id, p_event_type, p_payload, p_traceparent, p_occurred_ms);

  -- Stock, in sku_id order, with conditional updates only.
  FOR line IN SELECT u.sku, u.qty, u.policy, s.flash_sale, s.stock_buckets, s.low_stock_threshold
                FROM unnest(p_skus, p_qty, p_policies) AS u(sku, qty, policy)
                JOIN skus s ON s.sku_id = u.sku
               ORDER BY u.sku COLLATE "C" LOOP
    IF line.policy <> 1 THEN CONTINUE; END IF;  -- deduct at payment: checked above, taken at Confirm
    got := NULL;
    remaining := NULL;
    IF line.flash_sale THEN
      nb := 1;
      pick := -1;
    ELSE
      nb := greatest(line.stock_buckets, 1);
      pick := (p_hash % nb)::integer;
    END IF;
    -- 1. Bucketed: any free bucket holding everything, nearest after the order's pick. In a
    --    subtransaction that is rolled back when it takes nothing: FOR UPDATE locks a row whose
    --    newest version it then finds short, and keeps that lock (see the header).
    IF nb > 1 THEN
      BEGIN
        WITH f AS (SELECT sb.bucket_no FROM stock_buckets sb
                    WHERE sb.sku_id = line.sku AND sb.bucket_no >= 0 AND sb.available >= line.qty
                    ORDER BY (sb.bucket_no - pick + nb) % nb LIMIT 1 FOR UPDATE SKIP LOCKED)
        UPDATE stock_buckets s SET available = s.available - line.qty,
                                   reserved = s.reserved + line.qty
          FROM f WHERE s.sku_id = line.sku AND s.bucket_no = f.bucket_no
        RETURNING s.bucket_no INTO got;
        IF got IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'IV009'; END IF;
      EXCEPTION WHEN SQLSTATE 'IV009' THEN
        got := NULL;
      END;
    END IF;
    -- 2. One bucket holding everything, waiting for locked rows (their holders may roll back).
    --    One row (or the flash pool): wait for it. Buckets: if the SKU ran short meanwhile
    --    (lock-free sum), refuse without waiting; otherwise wait only for buckets that hold
    --    enough, in ascending bucket_no (the order of the split below), each wait in a
    --    subtransaction rolled back when the row turned out short, so a failed wait keeps no
    --    lock: the only bucket locks an order holds while it waits are its split's, taken in
    --    ascending order, so waits cannot form a cycle.
    IF got IS NULL AND nb = 1 THEN
      UPDATE stock_buckets s SET available = s.available - line.qty,
                                 reserved = s.reserved + line.qty
       WHERE s.sku_id = line.sku AND s.bucket_no = pick
         AND s.available >= line.qty;
      IF FOUND THEN got := pick; END IF;
    ELSIF got IS NULL THEN
      SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
       WHERE sb.sku_id = line.sku;
      IF avail < line.qty THEN
        RAISE EXCEPTION USING ERRCODE = 'IV001',
          MESSAGE = format('INSUFFICIENT|%s|%s|%s', line.qty, avail, line.sku);
      END IF;
      FOR b IN SELECT sb.bucket_no FROM stock_buckets sb
                WHERE sb.sku_id = line.sku AND sb.bucket_no >= 0 AND sb.available >= line.qty
                ORDER BY sb.bucket_no LOOP
        BEGIN
          UPDATE stock_buckets s SET available = s.available - line.qty,
                                     reserved = s.reserved + line.qty
           WHERE s.sku_id = line.sku AND s.bucket_no = b AND s.available >= line.qty;
          IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'IV009'; END IF;
          got := b;
        EXCEPTION WHEN SQLSTATE 'IV009' THEN
          got := NULL;
        END;
        EXIT WHEN got IS NOT NULL;
      END LOOP;
    END IF;
    IF got IS NOT NULL THEN
      a_skus := a_skus || line.sku; a_buckets := a_buckets || got; a_qty := a_qty || line.qty;
    ELSIF nb > 1 THEN
      -- 3. Split over buckets in ascending order (a consistent lock order).
      remaining := line.qty;
      FOR k IN 0 .. nb - 1 LOOP
        EXIT WHEN remaining = 0;
        take := NULL;
        WITH f AS (SELECT sb.bucket_no, LEAST(sb.available, remaining) AS t FROM stock_buckets sb
                    WHERE sb.sku_id = line.sku AND sb.bucket_no = k FOR UPDATE)
        UPDATE stock_buckets s SET available = s.available - f.t, reserved = s.reserved + f.t
          FROM f WHERE s.sku_id = line.sku AND s.bucket_no = f.bucket_no AND f.t > 0
        RETURNING f.t INTO take;
        IF take IS NOT NULL THEN
          a_skus := a_skus || line.sku; a_buckets := a_buckets || k; a_qty := a_qty || take;
          remaining := remaining - take;
        END IF;
      END LOOP;
    END IF;
    IF got IS NULL AND (remaining IS NULL OR remaining > 0) THEN
      SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
       WHERE sb.sku_id = line.sku;
      RAISE EXCEPTION USING ERRCODE = 'IV001',
        MESSAGE = format('INSUFFICIENT|%s|%s|%s', line.qty, avail, line.sku);
    END IF;
    -- Low-stock latch: re-arm silently; a crossing needs a StockLow event (slow path).
    IF line.low_stock_threshold > 0 THEN
      SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
       WHERE sb.sku_id = line.sku;
      INSERT INTO low_stock_alerts (sku_id, alerted) VALUES (line.sku, avail < line.low_stock_threshold)
      ON CONFLICT (sku_id) DO UPDATE SET alerted = EXCLUDED.alerted, updated_at = now()
       WHERE low_stock_alerts.alerted IS DISTINCT FROM EXCLUDED.alerted;
      GET DIAGNOSTICS flipped = ROW_COUNT;
      IF flipped = 1 AND avail < line.low_stock_threshold THEN
        RAISE EXCEPTION USING ERRCODE = 'IV002', MESSAGE = 'LOW_STOCK|' || line.sku;
      END IF;
    END IF;
  END LOOP;
  IF cardinality(a_skus) > 0 THEN
    INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
    SELECT p_order_id, u.sku, u.bucket, u.qty FROM unnest(a_skus, a_buckets, a_qty) AS u(sku, bucket, qty);
  END IF;
  RETURN QUERY SELECT 'reserved'::text, NULL::text, NULL::bigint, NULL::bigint, NULL::integer[],
                      a_skus, a_buckets, a_qty;
END
$fn$;
