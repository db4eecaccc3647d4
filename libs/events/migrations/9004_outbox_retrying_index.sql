-- Only rows that failed at least once can be backing off or parked, so the relay's "an earlier
-- event of this aggregate is held back" check probes this (usually empty) index instead of
-- scanning the outbox.
CREATE INDEX IF NOT EXISTS outbox_retrying ON outbox (aggregate_type, aggregate_id, sequence)
  WHERE published_at IS NULL AND attempts > 0;
