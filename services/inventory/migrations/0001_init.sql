-- Inventory: SKU catalog, stock per bucket, receipts, reservations (TCC try/confirm/cancel).
--
-- Invariant (checked by CheckInvariants / scripts/inventory-check), per SKU:
--   sum over buckets (available + reserved + sold) = sum of stock_receipts.quantity
--   every counter >= 0
--   sum(stock_buckets.reserved) = sum of allocations of RESERVED lines
-- Bucket -1 is the flash-sale pool: the stock WarmFlashSale handed to Redis. Redis grants are
-- persisted as reservations drawing on it, so the database stays the source of truth.

CREATE TABLE skus (
  sku_id              text PRIMARY KEY,
  product_id          text        NOT NULL,
  product_name        text        NOT NULL,
  specs               jsonb       NOT NULL DEFAULT '{}'::jsonb,
  price_minor         bigint      NOT NULL CHECK (price_minor >= 0),
  currency_code       text        NOT NULL,
  sale_status         smallint    NOT NULL CHECK (sale_status IN (1, 2)),
  merchant_id         text        NOT NULL,
  warehouse_id        text        NOT NULL,
  purchase_limit      integer     NOT NULL DEFAULT 0 CHECK (purchase_limit >= 0),
  deduction_policy    smallint    NOT NULL DEFAULT 1 CHECK (deduction_policy IN (1, 2)),
  flash_sale          boolean     NOT NULL DEFAULT false,
  stock_buckets       integer     NOT NULL DEFAULT 1 CHECK (stock_buckets BETWEEN 1 AND 64),
  low_stock_threshold bigint      NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
  -- Fencing token of the Redis flash-sale counter: bumped by every WarmFlashSale; a Redis grant
  -- is persisted only while its epoch is the current one. 0 = never warmed.
  flash_epoch         bigint      NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX skus_merchant ON skus (merchant_id, sku_id);

CREATE TABLE stock_buckets (
  sku_id    text    NOT NULL REFERENCES skus (sku_id),
  bucket_no integer NOT NULL CHECK (bucket_no >= -1 AND bucket_no < 64),
  available bigint  NOT NULL DEFAULT 0,
  reserved  bigint  NOT NULL DEFAULT 0,
  sold      bigint  NOT NULL DEFAULT 0,
  PRIMARY KEY (sku_id, bucket_no),
  CONSTRAINT stock_non_negative CHECK (available >= 0 AND reserved >= 0 AND sold >= 0)
);

-- One row per ReceiveStock call; request_id makes the call idempotent.
CREATE TABLE stock_receipts (
  request_id  text PRIMARY KEY,
  sku_id      text        NOT NULL REFERENCES skus (sku_id),
  quantity    bigint      NOT NULL CHECK (quantity > 0),
  note        text        NOT NULL DEFAULT '',
  -- Stock level right after this receipt (returned to retries).
  available_after      bigint NOT NULL,
  reserved_after       bigint NOT NULL,
  sold_after           bigint NOT NULL,
  total_received_after bigint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_receipts_sku ON stock_receipts (sku_id);

CREATE TABLE reservations (
  order_id       text PRIMARY KEY,
  state          text        NOT NULL
                 CHECK (state IN ('RESERVED', 'CONFIRMED', 'RELEASED', 'EXPIRED', 'TOMBSTONE')),
  order_type     smallint    NOT NULL,
  -- Canonical form of the requested lines: a retry must match it.
  fingerprint    text        NOT NULL DEFAULT '',
  -- 'db' or 'redis': where the decision was taken.
  path           text        NOT NULL DEFAULT 'db',
  -- Redis path: id of the grant (stream entry) this reservation persists.
  grant_id       text        NOT NULL DEFAULT '',
  expires_at     timestamptz NOT NULL,
  release_reason smallint    NOT NULL DEFAULT 0,
  version        bigint      NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
-- The sweeper's scan: only live reservations.
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE state = 'RESERVED';

CREATE TABLE reservation_lines (
  order_id         text     NOT NULL REFERENCES reservations (order_id),
  sku_id           text     NOT NULL REFERENCES skus (sku_id),
  quantity         bigint   NOT NULL CHECK (quantity > 0),
  deduction_policy smallint NOT NULL,
  state            text     NOT NULL
                   CHECK (state IN ('RESERVED', 'CONFIRMED', 'DEDUCTED', 'RELEASED', 'EXPIRED')),
  PRIMARY KEY (order_id, sku_id)
);
CREATE INDEX reservation_lines_sku ON reservation_lines (sku_id) WHERE state = 'RESERVED';

-- Where a line's units came from (a line may be split over several buckets). Deduct-at-payment
-- lines get allocations only when Confirm deducts them.
CREATE TABLE reservation_allocations (
  order_id  text    NOT NULL,
  sku_id    text    NOT NULL,
  bucket_no integer NOT NULL,
  quantity  bigint  NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, sku_id, bucket_no),
  FOREIGN KEY (order_id, sku_id) REFERENCES reservation_lines (order_id, sku_id)
);

-- Low-stock alert latch: StockLow is emitted on the crossing only.
CREATE TABLE low_stock_alerts (
  sku_id      text PRIMARY KEY REFERENCES skus (sku_id),
  alerted     boolean     NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
