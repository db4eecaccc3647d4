-- Persisting a Redis flash-sale grant as one statement (one round trip, its own transaction):
-- the same steps as ReservationManager::PersistFlashGrant's transaction, which stays for every
-- outcome but the common one.
--   'persisted'  reservation, line, allocation on the pool (bucket -1), outbox row written and the
--                pool's conditional update done
--   'other'      nothing written: the order already has a reservation, the SKU is missing, or the
--                grant's epoch is not the SKU's (the caller's transaction path decides and words it)
-- The pool row is touched last (every winner of the sale updates it), so its lock is held for
-- that statement and the commit only. A pool that cannot cover the grant raises IV001
-- 'INSUFFICIENT|requested|available|sku_id'; a low-stock crossing raises IV002 (roll back, take
-- the transaction path, which emits StockLow). FOR SHARE on the SKU row fences the epoch exactly
-- as before: WarmFlashSale's FOR UPDATE waits for this statement.
CREATE OR REPLACE FUNCTION inventory_persist_flash_grant(
    p_order_id text, p_order_type integer, p_fingerprint text, p_expires_ms bigint,
    p_now_ms bigint, p_sku text, p_qty bigint, p_epoch bigint, p_grant_id text,
    p_event_id uuid, p_topic text, p_partition_key text, p_event_type text, p_payload bytea,
    p_traceparent text, p_occurred_ms bigint)
RETURNS text
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  cat     record;
  seq     bigint;
  avail   bigint;
  flipped integer;
BEGIN
  PERFORM 1 FROM reservations r WHERE r.order_id = p_order_id;
  IF FOUND THEN RETURN 'other'; END IF;
  SELECT s.flash_epoch, s.low_stock_threshold INTO cat FROM skus s
   WHERE s.sku_id = p_sku FOR SHARE;
  IF NOT FOUND OR cat.flash_epoch <> p_epoch THEN RETURN 'other'; END IF;

  INSERT INTO reservations (order_id, state, order_type, fingerprint, path, expires_at,
                            release_reason, version, created_at, updated_at, grant_id)
  VALUES (p_order_id, 'RESERVED', p_order_type, p_fingerprint, 'redis',
          to_timestamp(p_expires_ms::double precision / 1000), 0, 1,
          to_timestamp(p_now_ms::double precision / 1000),
          to_timestamp(p_now_ms::double precision / 1000), p_grant_id)
  ON CONFLICT (order_id) DO NOTHING;
  IF NOT FOUND THEN RETURN 'other'; END IF;
  INSERT INTO reservation_lines (order_id, sku_id, quantity, deduction_policy, state)
  VALUES (p_order_id, p_sku, p_qty, 1, 'RESERVED');
  INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
  VALUES (p_order_id, p_sku, -1, p_qty);
  seq := orderly_outbox_append(p_event_id, p_topic, p_partition_key, 'reservation',
      p_order_id, p_event_type, p_payload, p_traceparent, p_occurred_ms);

  UPDATE stock_buckets sb SET available = sb.available - p_qty, reserved = sb.reserved + p_qty
   WHERE sb.sku_id = p_sku AND sb.bucket_no = -1 AND sb.available >= p_qty;
  IF NOT FOUND THEN
    SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb WHERE sb.sku_id = p_sku;
    RAISE EXCEPTION USING ERRCODE = 'IV001',
      MESSAGE = format('INSUFFICIENT|%s|%s|%s', p_qty, avail, p_sku);
  END IF;
  IF cat.low_stock_threshold > 0 THEN
    SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb WHERE sb.sku_id = p_sku;
    INSERT INTO low_stock_alerts (sku_id, alerted) VALUES (p_sku, avail < cat.low_stock_threshold)
    ON CONFLICT (sku_id) DO UPDATE SET alerted = EXCLUDED.alerted, updated_at = now()
     WHERE low_stock_alerts.alerted IS DISTINCT FROM EXCLUDED.alerted;
    GET DIAGNOSTICS flipped = ROW_COUNT;
    IF flipped = 1 AND avail < cat.low_stock_threshold THEN
      RAISE EXCEPTION USING ERRCODE = 'IV002', MESSAGE = 'LOW_STOCK|' || p_sku;
    END IF;
  END IF;
  RETURN 'persisted';
END
$fn$;

-- Many grants in one statement: what the gRPC path's grant batcher sends while a previous batch
-- commits, so one pool-row update and one commit cover every winner of the batch (the pool row's
-- lock is held across the commit, so one commit per winner would serialize the sale on fsync).
-- Per grant the same checks and rows as inventory_persist_flash_grant; outcomes[i] is
-- 'persisted' or 'other' (nothing written for it: its caller takes the transaction path). The
-- pools are updated once per SKU (sku_id order) for the sum of the persisted grants; a pool that
-- cannot cover it raises IV001 and a low-stock crossing IV002, and the whole batch rolls back
-- (every grant of it then takes the one-grant path).
CREATE OR REPLACE FUNCTION inventory_persist_flash_grants(
    p_order_ids text[], p_order_types integer[], p_fingerprints text[], p_expires_ms bigint[],
    p_now_ms bigint[], p_skus text[], p_qtys bigint[], p_epochs bigint[], p_grant_ids text[],
    p_event_ids uuid[], p_topic text, p_partition_keys text[], p_event_types text[],
    p_payloads bytea[], p_traceparents text[], p_occurred_ms bigint[])
RETURNS text[]
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  n        integer := cardinality(p_order_ids);
  outcomes text[] := array_fill('other'::text, ARRAY[n]);
  cat      record;
  pool     record;
  avail    bigint;
  flipped  integer;
BEGIN
  FOR i IN 1 .. n LOOP
    PERFORM 1 FROM reservations r WHERE r.order_id = p_order_ids[i];
    CONTINUE WHEN FOUND;
    SELECT s.flash_epoch INTO cat FROM skus s WHERE s.sku_id = p_skus[i] FOR SHARE;
    CONTINUE WHEN NOT FOUND OR cat.flash_epoch <> p_epochs[i];
    INSERT INTO reservations (order_id, state, order_type, fingerprint, path, expires_at,
                              release_reason, version, created_at, updated_at, grant_id)
    VALUES (p_order_ids[i], 'RESERVED', p_order_types[i], p_fingerprints[i], 'redis',
            to_timestamp(p_expires_ms[i]::double precision / 1000), 0, 1,
            to_timestamp(p_now_ms[i]::double precision / 1000),
            to_timestamp(p_now_ms[i]::double precision / 1000), p_grant_ids[i])
    ON CONFLICT (order_id) DO NOTHING;
    CONTINUE WHEN NOT FOUND;
    INSERT INTO reservation_lines (order_id, sku_id, quantity, deduction_policy, state)
    VALUES (p_order_ids[i], p_skus[i], p_qtys[i], 1, 'RESERVED');
    INSERT INTO reservation_allocations (order_id, sku_id, bucket_no, quantity)
    VALUES (p_order_ids[i], p_skus[i], -1, p_qtys[i]);
    PERFORM orderly_outbox_append(p_event_ids[i], p_topic, p_partition_keys[i], 'reservation',
        p_order_ids[i], p_event_types[i], p_payloads[i], p_traceparents[i], p_occurred_ms[i]);
    outcomes[i] := 'persisted';
  END LOOP;

  FOR pool IN SELECT u.sku, sum(u.qty) AS total, max(s.low_stock_threshold) AS threshold
                FROM unnest(p_skus, p_qtys, outcomes) AS u(sku, qty, outcome)
                JOIN skus s ON s.sku_id = u.sku
               WHERE u.outcome = 'persisted'
               GROUP BY u.sku ORDER BY u.sku COLLATE "C" LOOP
    UPDATE stock_buckets sb SET available = sb.available - pool.total,
                                reserved = sb.reserved + pool.total
     WHERE sb.sku_id = pool.sku AND sb.bucket_no = -1 AND sb.available >= pool.total;
    IF NOT FOUND THEN
      SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
       WHERE sb.sku_id = pool.sku;
      RAISE EXCEPTION USING ERRCODE = 'IV001',
        MESSAGE = format('INSUFFICIENT|%s|%s|%s', pool.total, avail, pool.sku);
    END IF;
    IF pool.threshold > 0 THEN
      SELECT COALESCE(sum(sb.available), 0) INTO avail FROM stock_buckets sb
       WHERE sb.sku_id = pool.sku;
      INSERT INTO low_stock_alerts (sku_id, alerted) VALUES (pool.sku, avail < pool.threshold)
      ON CONFLICT (sku_id) DO UPDATE SET alerted = EXCLUDED.alerted, updated_at = now()
       WHERE low_stock_alerts.alerted IS DISTINCT FROM EXCLUDED.alerted;
      GET DIAGNOSTICS flipped = ROW_COUNT;
      IF flipped = 1 AND avail < pool.threshold THEN
        RAISE EXCEPTION USING ERRCODE = 'IV002', MESSAGE = 'LOW_STOCK|' || pool.sku;
      END IF;
    END IF;
  END LOOP;
  RETURN outcomes;
END
$fn$;
