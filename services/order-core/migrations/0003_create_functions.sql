-- CreateOrder's writes as stored functions: each is ONE round trip (an autocommit call), and
-- PL/pgSQL keeps the plans of its statements, so the hot path neither waits on several round
-- trips nor re-plans its INSERTs. order_repository.cpp builds the JSON rows; the column lists
-- here are the ones the C++ code used to send statement by statement.

-- The create intent (step 5): written before Reserve so a crash between Reserve and the order's
-- commit is found by the recovery pass. Asynchronous commit: a lost intent only delays the
-- release to the reservation's own expiry, and a process crash (what the intent is for) does not
-- lose an asynchronously committed row.
CREATE OR REPLACE FUNCTION order_put_intent(p_order_id bigint, p_buyer_id text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO create_intents (order_id, buyer_id, created_at) VALUES (p_order_id, p_buyer_id, p_now)
  ON CONFLICT (order_id) DO NOTHING;
END
$fn$;

-- Step 6, all or nothing: orders (parent first: a concurrent duplicate fails on the primary key
-- before touching coupons or points), lines, discounts and their per-line allocations, the
-- status history, the payment timer (the intent goes away with it), the coupon and points
-- freeze, and the OrderCreated events. A coupon taken meanwhile raises SQLSTATE OC001 with the
-- coupon id as message; a points balance that no longer covers the order raises OC002.
CREATE OR REPLACE FUNCTION order_create(p_orders jsonb, p_lines jsonb, p_discounts jsonb,
                                        p_allocations jsonb, p_history jsonb,
                                        p_top_order_id bigint, p_timer_due timestamptz,
                                        p_buyer_id text, p_coupon_ids text[], p_points bigint,
                                        p_events jsonb)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  n int;
  missing text;
BEGIN
  INSERT INTO orders (order_id, parent_order_id, is_top_level, is_fulfillment_unit, buyer_id,
                      merchant_id, warehouse_id, order_type, status, currency, items_total,
                      activity_discount, member_discount, coupon_discount, points_discount,
                      points_used, shipping_fee, payable_total, shipping_address, coupon_ids,
                      client_note, request_id, request_fingerprint, payment_deadline, created_at,
                      updated_at, version)
  SELECT order_id, parent_order_id, is_top_level, is_fulfillment_unit, buyer_id, merchant_id,
         warehouse_id, order_type, status, currency, items_total, activity_discount,
         member_discount, coupon_discount, points_discount, points_used, shipping_fee,
         payable_total, shipping_address, coupon_ids, client_note, request_id,
         request_fingerprint, payment_deadline, created_at, updated_at, 1
  FROM jsonb_populate_recordset(NULL::orders, p_orders);

  INSERT INTO order_lines (top_order_id, line_no, order_id, sku_id, merchant_id, quantity,
                           unit_price, base_amount, promotion_discount, member_discount,
                           coupon_discount, points_discount, final_amount, snapshot)
  SELECT top_order_id, line_no, order_id, sku_id, merchant_id, quantity, unit_price, base_amount,
         promotion_discount, member_discount, coupon_discount, points_discount, final_amount,
         snapshot
  FROM jsonb_populate_recordset(NULL::order_lines, p_lines);

  IF jsonb_array_length(p_discounts) > 0 THEN
    INSERT INTO order_discounts (top_order_id, seq, kind, source_id, amount, description)
    SELECT top_order_id, seq, kind, source_id, amount, description
    FROM jsonb_populate_recordset(NULL::order_discounts, p_discounts);
  END IF;
  IF jsonb_array_length(p_allocations) > 0 THEN
    INSERT INTO order_discount_allocations (top_order_id, seq, line_no, amount)
    SELECT top_order_id, seq, line_no, amount
    FROM jsonb_populate_recordset(NULL::order_discount_allocations, p_allocations);
  END IF;

  INSERT INTO order_status_history (order_id, from_status, to_status, action, actor_role,
                                    actor_id, reason, occurred_at)
  SELECT order_id, from_status, to_status, action, actor_role, actor_id, reason, occurred_at
  FROM jsonb_populate_recordset(NULL::order_status_history, p_history);

  INSERT INTO order_timers (order_id, due_at) VALUES (p_top_order_id, p_timer_due)
  ON CONFLICT (order_id) DO NOTHING;
  DELETE FROM create_intents WHERE order_id = p_top_order_id;

  IF cardinality(p_coupon_ids) > 0 THEN
    UPDATE coupons SET state = 'frozen', order_id = p_top_order_id, updated_at = now()
    WHERE coupon_id = ANY(p_coupon_ids) AND owner_id = p_buyer_id AND state = 'available';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_coupon_ids) THEN
      SELECT c INTO missing FROM unnest(p_coupon_ids) AS c
      WHERE NOT EXISTS (SELECT 1 FROM coupons WHERE coupon_id = c AND order_id = p_top_order_id
                                                AND state = 'frozen')
      LIMIT 1;
      RAISE EXCEPTION USING ERRCODE = 'OC001', MESSAGE = COALESCE(missing, '');
    END IF;
  END IF;
  IF p_points > 0 THEN
    WITH a AS (UPDATE points_accounts SET balance = balance - p_points, frozen = frozen + p_points
               WHERE buyer_id = p_buyer_id AND balance >= p_points RETURNING buyer_id)
    INSERT INTO points_holds (order_id, buyer_id, points, state)
    SELECT p_top_order_id, buyer_id, p_points, 'frozen' FROM a;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'OC002', MESSAGE = p_buyer_id;
    END IF;
  END IF;

  PERFORM orderly_outbox_append_json(p_events);
END
$fn$;
