-- Reserve on the database path as one statement (one round trip, its own transaction when sent
-- outside BEGIN/COMMIT): the same decisions, in the same order, as the multi-statement path in
-- reservation_manager.cpp, which stays as the slow path for the rare cases this one hands back.
--
-- Reads first, writes nothing when it refuses (returns a row):
--   'exists'        the order already has a reservation (the caller answers from it)
--   'catalog'       a SKU is missing, off sale, of the wrong kind, or over its purchase limit
--                   (the caller reads the catalog and builds the exact error)
--   'policy'        the caller built its StockReserved event with other deduction policies than
--                   the catalog's (policies = the catalog's, request order; retry with them)
--   'insufficient'  sku_id, requested, available of the first short line (lock-free sums,
--                   request order): a sold-out SKU is refused without queueing on a row lock
-- then writes, in sku_id order (every writer locks bucket rows in the same order):
--   'reserved'      alloc_* = where each line's units came from
-- A line that loses a race for the units after the writes began raises SQLSTATE IV001 with
-- message 'INSUFFICIENT|requested|available|sku_id' (the statement rolls back whole); a low-stock
-- crossing, whose StockLow event the caller must build, raises IV002 (roll back, take the slow
-- path).
--
-- The outbox row is written by libs/events' orderly_outbox_append (migration 9100, the function
-- events::Append calls; the statement trigger NOTIFYs the relay). p_payload is the serialized
-- envelope.
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
    -- 1. Bucketed: any free bucket holding everything, nearest after the order's pick.
    IF nb > 1 THEN
      WITH f AS (SELECT sb.bucket_no FROM stock_buckets sb
                  WHERE sb.sku_id = line.sku AND sb.bucket_no >= 0 AND sb.available >= line.qty
                  ORDER BY (sb.bucket_no - pick + nb) % nb LIMIT 1 FOR UPDATE SKIP LOCKED)
      UPDATE stock_buckets s SET available = s.available - line.qty,
                                 reserved = s.reserved + line.qty
        FROM f WHERE s.sku_id = line.sku AND s.bucket_no = f.bucket_no
      RETURNING s.bucket_no INTO got;
    END IF;
    -- 2. One bucket holding everything, waiting for locked rows (their holders may roll back).
    IF got IS NULL THEN
      FOR k IN 0 .. nb - 1 LOOP
        b := CASE WHEN pick < 0 THEN pick ELSE (pick + k) % nb END;
        UPDATE stock_buckets s SET available = s.available - line.qty,
                                   reserved = s.reserved + line.qty
         WHERE s.sku_id = line.sku AND s.bucket_no = b AND s.available >= line.qty;
        IF FOUND THEN got := b; EXIT; END IF;
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
