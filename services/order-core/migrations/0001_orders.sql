-- Orders. A split order is one parent (the payment unit, top-level) and one child per
-- merchant/warehouse (the fulfillment unit); an unsplit order is both units in one row.
CREATE TABLE IF NOT EXISTS orders (
  order_id                 bigint      PRIMARY KEY,          -- idempotency layer 2
  parent_order_id          bigint,
  is_top_level             boolean     NOT NULL,             -- parent or unsplit
  is_fulfillment_unit      boolean     NOT NULL,             -- child or unsplit
  buyer_id                 text        NOT NULL,
  merchant_id              text        NOT NULL DEFAULT '',
  warehouse_id             text        NOT NULL DEFAULT '',
  order_type               smallint    NOT NULL,
  status                   smallint    NOT NULL,
  status_before_after_sale smallint    NOT NULL DEFAULT 0,
  currency                 text        NOT NULL,
  items_total              bigint      NOT NULL CHECK (items_total >= 0),
  activity_discount        bigint      NOT NULL CHECK (activity_discount >= 0),
  member_discount          bigint      NOT NULL CHECK (member_discount >= 0),
  coupon_discount          bigint      NOT NULL CHECK (coupon_discount >= 0),
  points_discount          bigint      NOT NULL CHECK (points_discount >= 0),
  points_used              bigint      NOT NULL CHECK (points_used >= 0),
  shipping_fee             bigint      NOT NULL CHECK (shipping_fee >= 0),
  payable_total            bigint      NOT NULL CHECK (payable_total >= 0),
  shipping_address         bytea       NOT NULL,             -- orderly.common.v1.Address
  coupon_ids               text[]      NOT NULL DEFAULT '{}',
  client_note              text        NOT NULL DEFAULT '',
  request_id               text        NOT NULL,
  request_fingerprint      text        NOT NULL,
  payment_deadline         timestamptz NOT NULL,
  paid_at                  timestamptz,
  shipped_at               timestamptz,
  delivered_at             timestamptz,
  completed_at             timestamptz,
  cancelled_at             timestamptz,
  created_at               timestamptz NOT NULL,
  updated_at               timestamptz NOT NULL,
  version                  bigint      NOT NULL DEFAULT 1,
  cancel_reason            smallint    NOT NULL DEFAULT 0,
  cancel_reason_text       text        NOT NULL DEFAULT '',
  payment_id               text        NOT NULL DEFAULT ''
);
-- Idempotency layer 3: one top-level order per (buyer, request_id), whatever order id it carries.
CREATE UNIQUE INDEX IF NOT EXISTS orders_buyer_request ON orders (buyer_id, request_id) WHERE is_top_level;
-- Keyset pagination, newest first, per view.
CREATE INDEX IF NOT EXISTS orders_buyer_list ON orders (buyer_id, created_at DESC, order_id DESC) WHERE is_top_level;
CREATE INDEX IF NOT EXISTS orders_merchant_list ON orders (merchant_id, created_at DESC, order_id DESC) WHERE is_fulfillment_unit;
CREATE INDEX IF NOT EXISTS orders_admin_list ON orders (created_at DESC, order_id DESC) WHERE is_top_level;
CREATE INDEX IF NOT EXISTS orders_children ON orders (parent_order_id) WHERE parent_order_id IS NOT NULL;
-- The sweep of overdue unpaid orders.
CREATE INDEX IF NOT EXISTS orders_overdue ON orders (payment_deadline) WHERE status = 1 AND is_top_level;

-- Lines, stored once under the top-level order and pointing at the fulfillment unit holding them.
-- Discount shares per line are kept because partial refunds are computed from them.
CREATE TABLE IF NOT EXISTS order_lines (
  top_order_id       bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
  line_no            int    NOT NULL,
  order_id           bigint NOT NULL,
  sku_id             text   NOT NULL,
  merchant_id        text   NOT NULL,
  quantity           int    NOT NULL CHECK (quantity > 0),
  unit_price         bigint NOT NULL CHECK (unit_price >= 0),
  base_amount        bigint NOT NULL,
  promotion_discount bigint NOT NULL,
  member_discount    bigint NOT NULL,
  coupon_discount    bigint NOT NULL,
  points_discount    bigint NOT NULL,
  final_amount       bigint NOT NULL CHECK (final_amount >= 0),
  snapshot           bytea  NOT NULL,  -- orderly.order.v1.OrderLine (name, specs, ids at order time)
  PRIMARY KEY (top_order_id, line_no)
);
CREATE INDEX IF NOT EXISTS order_lines_sku ON order_lines (sku_id, top_order_id);
CREATE INDEX IF NOT EXISTS order_lines_unit ON order_lines (order_id);

-- Order-level discounts (before apportioning) and each one's share per line.
CREATE TABLE IF NOT EXISTS order_discounts (
  top_order_id bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
  seq          int    NOT NULL,
  kind         smallint NOT NULL,   -- orderly.order.v1.DiscountKind
  source_id    text   NOT NULL,
  amount       bigint NOT NULL CHECK (amount >= 0),
  description  text   NOT NULL DEFAULT '',
  PRIMARY KEY (top_order_id, seq)
);
CREATE TABLE IF NOT EXISTS order_discount_allocations (
  top_order_id bigint NOT NULL,
  seq          int    NOT NULL,
  line_no      int    NOT NULL,
  amount       bigint NOT NULL CHECK (amount > 0),
  PRIMARY KEY (top_order_id, seq, line_no),
  FOREIGN KEY (top_order_id, seq) REFERENCES order_discounts (top_order_id, seq) ON DELETE CASCADE
);

-- One row per transition (and per change_address), written with the change.
CREATE TABLE IF NOT EXISTS order_status_history (
  id          bigserial   PRIMARY KEY,
  order_id    bigint      NOT NULL,
  from_status smallint    NOT NULL,
  to_status   smallint    NOT NULL,
  action      text        NOT NULL,
  actor_role  smallint    NOT NULL,
  actor_id    text        NOT NULL DEFAULT '',
  reason      text        NOT NULL DEFAULT '',
  occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS order_status_history_order ON order_status_history (order_id, id);

-- Durable payment-timeout timers (one per top-level order), polled with FOR UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS order_timers (
  order_id bigint      PRIMARY KEY,
  due_at   timestamptz NOT NULL,
  attempts int         NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS order_timers_due ON order_timers (due_at);

-- A reservation that CreateOrder asked inventory for and whose order is not committed yet. The
-- order transaction deletes it; a row that outlives the create (crash, failed compensation) is
-- released by the recovery pass.
CREATE TABLE IF NOT EXISTS create_intents (
  order_id   bigint      PRIMARY KEY,
  buyer_id   text        NOT NULL,
  created_at timestamptz NOT NULL,
  attempts   int         NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS create_intents_age ON create_intents (created_at);
