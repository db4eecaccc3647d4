-- payment owns payments, refunds, reconciliation and a projection of the orders it is asked to
-- collect money for (from OrderCreated / OrderCancelled on orderly.order.v1).

CREATE TABLE orders (
  order_id          text PRIMARY KEY,
  buyer_id          text NOT NULL DEFAULT '',
  payable_minor     bigint NOT NULL,
  currency          text NOT NULL,
  status            text NOT NULL DEFAULT 'PENDING_PAYMENT',  -- PENDING_PAYMENT, PAID, CANCELLED
  payment_deadline  timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
  payment_id              text PRIMARY KEY,
  order_id                text NOT NULL,
  request_id              text NOT NULL UNIQUE,
  fingerprint             text NOT NULL,
  channel                 int NOT NULL,
  method                  int NOT NULL,
  amount_minor            bigint NOT NULL CHECK (amount_minor > 0),
  currency                text NOT NULL,
  status                  text NOT NULL,  -- PENDING, SUCCEEDED, FAILED, CLOSED
  description             text NOT NULL DEFAULT '',
  pay_url                 text NOT NULL DEFAULT '',
  qr_code                 text NOT NULL DEFAULT '',
  app_params              text NOT NULL DEFAULT '',  -- k=v&k=v
  channel_transaction_id  text,
  failure_reason          text NOT NULL DEFAULT '',
  refunded_minor          bigint NOT NULL DEFAULT 0,
  paid_after_close        boolean NOT NULL DEFAULT false,
  expires_at              timestamptz NOT NULL,
  paid_at                 timestamptz,
  closed_at               timestamptz,
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  -- active query of the channel (lost-callback recovery)
  next_query_at           timestamptz,
  query_until             timestamptz,
  query_attempts          int NOT NULL DEFAULT 0,
  -- closed locally (order cancelled) but not yet confirmed closed at the channel
  close_at_channel        boolean NOT NULL DEFAULT false
);
-- one open payment per order
CREATE UNIQUE INDEX payments_one_pending_per_order ON payments (order_id) WHERE status = 'PENDING';
-- one local payment per channel transaction: the guard under the Redis dedupe
CREATE UNIQUE INDEX payments_channel_txn ON payments (channel, channel_transaction_id)
  WHERE channel_transaction_id IS NOT NULL;
CREATE INDEX payments_by_order ON payments (order_id, created_at DESC);
CREATE INDEX payments_to_query ON payments (next_query_at) WHERE next_query_at IS NOT NULL;
CREATE INDEX payments_paid_at ON payments (channel, paid_at) WHERE status = 'SUCCEEDED';

-- Every channel success applied, keyed by (order id, channel transaction id): a duplicate
-- notification, query result or reconciliation fix hits this key and changes nothing.
CREATE TABLE payment_transactions (
  order_id                text NOT NULL,
  channel_transaction_id  text NOT NULL,
  payment_id              text NOT NULL REFERENCES payments (payment_id),
  source                  text NOT NULL,  -- notify, query, reconciliation, close
  applied_at              timestamptz NOT NULL,
  PRIMARY KEY (order_id, channel_transaction_id)
);

-- Notifications and results that must not move money: amount / currency / order mismatches,
-- unknown trades. For people to look at; nothing is changed by them.
CREATE TABLE payment_anomalies (
  anomaly_id              bigserial PRIMARY KEY,
  kind                    text NOT NULL,  -- AMOUNT_MISMATCH, CURRENCY_MISMATCH, UNKNOWN_PAYMENT, ...
  channel                 int NOT NULL,
  payment_id              text NOT NULL DEFAULT '',
  order_id                text NOT NULL DEFAULT '',
  channel_transaction_id  text NOT NULL DEFAULT '',
  expected_minor          bigint,
  actual_minor            bigint,
  detail                  text NOT NULL,
  source                  text NOT NULL,
  created_at              timestamptz NOT NULL
);
CREATE INDEX payment_anomalies_by_payment ON payment_anomalies (payment_id);

CREATE TABLE refunds (
  refund_id           text PRIMARY KEY,
  payment_id          text NOT NULL REFERENCES payments (payment_id),
  order_id            text NOT NULL,
  request_id          text NOT NULL UNIQUE,
  fingerprint         text NOT NULL,
  amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
  currency            text NOT NULL,
  reason              int NOT NULL,
  reason_text         text NOT NULL DEFAULT '',
  after_sale_case_id  text NOT NULL DEFAULT '',
  status              text NOT NULL,  -- PROCESSING, SUCCEEDED, FAILED, MANUAL_REVIEW
  channel_refund_id   text NOT NULL DEFAULT '',
  attempts            int NOT NULL DEFAULT 0,
  last_error          text NOT NULL DEFAULT '',
  -- the last channel call timed out or was accepted without a result: query before calling again
  in_doubt            boolean NOT NULL DEFAULT false,
  next_attempt_at     timestamptz,
  retry_request_id    text NOT NULL DEFAULT '',
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  succeeded_at        timestamptz
);
CREATE INDEX refunds_by_payment ON refunds (payment_id, created_at, refund_id);
CREATE INDEX refunds_due ON refunds (next_attempt_at) WHERE status = 'PROCESSING';
CREATE INDEX refunds_manual_review ON refunds (created_at, refund_id) WHERE status = 'MANUAL_REVIEW';
CREATE INDEX refunds_succeeded_at ON refunds (succeeded_at) WHERE status = 'SUCCEEDED';

CREATE TABLE reconciliation_reports (
  channel     int NOT NULL,
  bill_date   date NOT NULL,
  report_id   text NOT NULL UNIQUE,
  status      text NOT NULL,
  report      bytea NOT NULL,  -- orderly.payment.v1.ReconciliationReport
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (channel, bill_date)
);
