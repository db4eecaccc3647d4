-- Transactional outbox: one row per domain event, written in the transaction of the change.
CREATE TABLE IF NOT EXISTS outbox (
  id              bigserial PRIMARY KEY,
  event_id        uuid        NOT NULL UNIQUE,
  topic           text        NOT NULL,
  partition_key   text        NOT NULL,
  aggregate_type  text        NOT NULL,
  aggregate_id    text        NOT NULL,
  sequence        bigint      NOT NULL,
  event_type      text        NOT NULL,
  payload         bytea       NOT NULL,            -- serialized orderly.events.v1.EventEnvelope
  traceparent     text        NOT NULL DEFAULT '',
  occurred_at     timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at    timestamptz,
  attempts        int         NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
  last_error      text,
  parked_at       timestamptz,
  UNIQUE (aggregate_type, aggregate_id, sequence)
);
-- The relay's claim scan: only rows still to publish.
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_parked ON outbox (aggregate_type, aggregate_id) WHERE parked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Last sequence handed out per aggregate; its row lock serializes writers of one aggregate.
CREATE TABLE IF NOT EXISTS outbox_sequences (
  aggregate_type text   NOT NULL,
  aggregate_id   text   NOT NULL,
  last_sequence  bigint NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id)
);
