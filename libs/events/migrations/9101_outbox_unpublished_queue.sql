-- The pending state moves out of the outbox row into a small queue table, outbox_unpublished.
--
-- Why: the partial indexes outbox_pending, outbox_published and outbox_retrying named
-- published_at in their predicates, so the relay's "mark published" could never be a HOT update:
-- every mark wrote a new tuple elsewhere plus an entry in each of the outbox's five indexes,
-- about as much work as the insert itself (and bottom-up index deletion afterwards). Now:
--   - a writer inserts the event and its id into outbox_unpublished (orderly_outbox_append /
--     _json below, same signatures and results as 9100);
--   - the relay claims through outbox_unpublished in id order (a row of a transaction that
--     commits late with a lower id appears there when it commits: still no gaps), deletes the ids
--     it published and sets outbox.published_at, which no index mentions any more: with free
--     room on the page (fillfactor) that is a HOT update without index writes;
--   - `failed` marks ids that failed at least once, so the "an earlier event of this aggregate
--     is backing off or parked" check reads a (usually empty) partial index, as outbox_retrying
--     did. attempts, next_attempt_at, last_error and parked_at stay on the outbox row, where
--     operators read them.
-- outbox.published_at keeps its meaning (NULL until Kafka acknowledged the row), so queries that
-- read it elsewhere are unaffected.
CREATE TABLE IF NOT EXISTS outbox_unpublished (
  id     bigint  PRIMARY KEY,
  failed boolean NOT NULL DEFAULT false
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX IF NOT EXISTS outbox_unpublished_failed ON outbox_unpublished (id) WHERE failed;

-- Existing rows still to publish (parked ones included) join the queue. A relay of the previous
-- version that is still running during a rolling upgrade only sets published_at: its rows are
-- published once more by the new relay (a duplicate, which consumers absorb), never lost.
INSERT INTO outbox_unpublished (id, failed)
SELECT id, attempts > 0 FROM outbox WHERE published_at IS NULL
ON CONFLICT (id) DO NOTHING;

DROP INDEX IF EXISTS outbox_pending;
DROP INDEX IF EXISTS outbox_published;
DROP INDEX IF EXISTS outbox_retrying;
-- Room on each page for the marked version of its rows (HOT needs the new version on the same
-- page); applies to pages written from now on.
ALTER TABLE outbox SET (fillfactor = 50);

CREATE OR REPLACE FUNCTION orderly_outbox_append(
    p_event_id uuid, p_topic text, p_partition_key text, p_aggregate_type text,
    p_aggregate_id text, p_event_type text, p_payload bytea, p_traceparent text,
    p_occurred_ms bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
  seq bigint;
  new_id bigint;
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
          to_timestamp(p_occurred_ms::double precision / 1000.0))
  RETURNING id INTO new_id;
  INSERT INTO outbox_unpublished (id) VALUES (new_id);
  RETURN seq;
END
$fn$;

-- As in 9100: sequences of one aggregate follow the array order, ids follow the array order, the
-- aggregates' sequence rows are locked in (aggregate_type, aggregate_id) order, and the result is
-- the sequences in array order. The sequences are computed once (`numbered`) and returned from
-- there, instead of joining the inserted rows back to the input by event_id.
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
  numbered AS (
    SELECT ev.*,
           seq.last_sequence - agg.n
             + row_number() OVER (PARTITION BY ev.aggregate_type, ev.aggregate_id
                                  ORDER BY ev.ord) AS sequence
    FROM ev JOIN agg USING (aggregate_type, aggregate_id)
            JOIN seq USING (aggregate_type, aggregate_id)),
  ins AS (
    INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, sequence,
                        event_type, payload, traceparent, occurred_at)
    SELECT event_id, topic, partition_key, aggregate_type, aggregate_id, sequence, event_type,
           payload, traceparent, occurred_at
    FROM numbered ORDER BY ord
    RETURNING id),
  queued AS (
    INSERT INTO outbox_unpublished (id) SELECT id FROM ins)
  SELECT numbered.sequence FROM numbered ORDER BY numbered.ord;
END
$fn$;
