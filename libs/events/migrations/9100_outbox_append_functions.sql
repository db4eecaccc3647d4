-- The outbox append as SQL functions: events::Append and events::AppendMany call them, and so do
-- services' stored functions that write a whole change in one round trip, so the sequence logic
-- exists once.
--
-- orderly_outbox_append: one event. Takes the aggregate's next sequence (its row lock serializes
-- the aggregate's writers until commit) and inserts the event with it; returns the sequence. The
-- stored payload has no sequence: the relay stamps it into the record.
CREATE OR REPLACE FUNCTION orderly_outbox_append(
    p_event_id uuid, p_topic text, p_partition_key text, p_aggregate_type text,
    p_aggregate_id text, p_event_type text, p_payload bytea, p_traceparent text,
    p_occurred_ms bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  seq bigint;
BEGIN
  INSERT INTO outbox_sequences (aggregate_type, aggregate_id, last_sequence)
  VALUES (p_aggregate_type, p_aggregate_id, 1)
  ON CONFLICT (aggregate_type, aggregate_id)
  DO UPDATE SET last_sequence = outbox_sequences.last_sequence + 1
  RETURNING last_sequence INTO seq;
  INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
                      event_type, payload, traceparent, occurred_at)
  VALUES (p_event_id, p_topic, p_partition_key, p_aggregate_type, p_aggregate_id, seq,
          p_event_type, p_payload, p_traceparent,
          to_timestamp(p_occurred_ms::double precision / 1000.0));
  RETURN seq;
END
$fn$;

-- orderly_outbox_append_json: several events in one call. p_events is a JSON array of objects with the outbox columns event_id, topic,
-- partition_key, aggregate_type, aggregate_id, event_type, payload ("\\x..." hex bytea),
-- traceparent and occurred_at, built by events::OutboxRowsJson (libs/events/src/outbox_rows.cpp),
-- which completes each envelope exactly as events::Append does.
--
-- Same guarantees as orderly_outbox_append: each aggregate's sequence row is locked (upserted) before its events
-- are inserted, sequences of one aggregate follow the order of the array, ids follow the array
-- order, and the aggregates' rows are locked in (aggregate_type, aggregate_id) order so two
-- callers never deadlock each other. The statement trigger (9003, 9005) sends the NOTIFY.
-- Returns the sequences in the order of the array.
DROP FUNCTION IF EXISTS orderly_outbox_append_json(jsonb);
CREATE FUNCTION orderly_outbox_append_json(p_events jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
  WITH ev AS (
    SELECT e.event_id, e.topic, e.partition_key, e.aggregate_type, e.aggregate_id, e.event_type,
           e.payload, COALESCE(e.traceparent, '') AS traceparent, e.occurred_at, x.ord
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(j, ord),
         LATERAL jsonb_populate_record(NULL::outbox, x.j) AS e),
  agg AS (
    SELECT aggregate_type, aggregate_id, count(*) AS n FROM ev GROUP BY 1, 2),
  seq AS (
    INSERT INTO outbox_sequences AS s (aggregate_type, aggregate_id, last_sequence)
    SELECT aggregate_type, aggregate_id, n FROM agg ORDER BY 1, 2
    ON CONFLICT (aggregate_type, aggregate_id)
    DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
    RETURNING aggregate_type, aggregate_id, last_sequence),
  ins AS (
    INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
                        event_type, payload, traceparent, occurred_at)
    SELECT ev.event_id, ev.topic, ev.partition_key, ev.aggregate_type, ev.aggregate_id,
           seq.last_sequence - agg.n
             + row_number() OVER (PARTITION BY ev.aggregate_type, ev.aggregate_id ORDER BY ev.ord),
           ev.event_type, ev.payload, ev.traceparent, ev.occurred_at
    FROM ev JOIN agg USING (aggregate_type, aggregate_id)
            JOIN seq USING (aggregate_type, aggregate_id)
    ORDER BY ev.ord
    RETURNING outbox.event_id, outbox.sequence)
  SELECT ins.sequence FROM ins JOIN ev USING (event_id) ORDER BY ev.ord;
END
$fn$;
