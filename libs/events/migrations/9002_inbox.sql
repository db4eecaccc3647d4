-- Inbox: events a consumer has applied (dedupe), and the last applied sequence per aggregate.
CREATE TABLE IF NOT EXISTS inbox (
  consumer    text        NOT NULL,
  event_id    uuid        NOT NULL,
  event_type  text        NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_applied_at ON inbox (applied_at);

CREATE TABLE IF NOT EXISTS inbox_sequences (
  consumer       text   NOT NULL,
  aggregate_type text   NOT NULL,
  aggregate_id   text   NOT NULL,
  last_sequence  bigint NOT NULL,
  PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);
