-- Marketing data owned by order-core (there is no separate marketing service): promotions,
-- member tiers, coupons and loyalty points. Coupons and points are frozen in the order's own
-- transaction, used at payment and returned at cancel.
CREATE TABLE IF NOT EXISTS pricing_settings (
  id                      int    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  currency                text   NOT NULL,
  points_rate_points      bigint NOT NULL,   -- rate_points points are worth rate_minor
  points_rate_minor       bigint NOT NULL,
  points_max_fraction_bps int    NOT NULL,   -- cap: share of the goods amount points may pay
  points_min              bigint NOT NULL,
  shipping_flat_fee       bigint NOT NULL,
  shipping_free_over      bigint,            -- NULL = never free
  max_coupons_per_order   int    NOT NULL
);
INSERT INTO pricing_settings VALUES (1, 'CNY', 100, 100, 5000, 0, 0, NULL, 1) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS shipping_rules (
  merchant_id text   PRIMARY KEY,
  flat_fee    bigint NOT NULL CHECK (flat_fee >= 0),
  free_over   bigint
);

CREATE TABLE IF NOT EXISTS promotions (
  promotion_id            text        PRIMARY KEY,
  kind                    text        NOT NULL CHECK (kind IN ('spend_x_off_y', 'percent_off')),
  threshold               bigint      NOT NULL DEFAULT 0,
  off_amount              bigint      NOT NULL DEFAULT 0,
  repeat                  boolean     NOT NULL DEFAULT false,
  max_repeats             int         NOT NULL DEFAULT 0,
  percent_bps             int         NOT NULL DEFAULT 0,
  max_off                 bigint      NOT NULL DEFAULT 0,
  scope_kind              text        NOT NULL DEFAULT 'all' CHECK (scope_kind IN ('all', 'skus', 'merchant')),
  scope_values            text[]      NOT NULL DEFAULT '{}',
  priority                int         NOT NULL DEFAULT 0,
  exclusive_group         text        NOT NULL DEFAULT '',
  combinable_with_coupons boolean     NOT NULL DEFAULT true,
  valid_from              timestamptz NOT NULL DEFAULT '-infinity',
  valid_to                timestamptz NOT NULL DEFAULT 'infinity',
  active                  boolean     NOT NULL DEFAULT true,
  description             text        NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS member_tiers (
  tier            text PRIMARY KEY,
  percent_off_bps int  NOT NULL CHECK (percent_off_bps BETWEEN 0 AND 10000),
  description     text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS buyer_memberships (
  buyer_id text PRIMARY KEY,
  tier     text NOT NULL REFERENCES member_tiers (tier)
);

CREATE TABLE IF NOT EXISTS coupons (
  coupon_id    text        PRIMARY KEY,
  owner_id     text        NOT NULL,
  kind         text        NOT NULL CHECK (kind IN ('fixed', 'percent')),
  amount_off   bigint      NOT NULL DEFAULT 0,
  percent_bps  int         NOT NULL DEFAULT 0,
  max_off      bigint      NOT NULL DEFAULT 0,
  threshold    bigint      NOT NULL DEFAULT 0,
  valid_from   timestamptz NOT NULL DEFAULT '-infinity',
  valid_to     timestamptz NOT NULL DEFAULT 'infinity',
  state        text        NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'frozen', 'used')),
  scope_kind   text        NOT NULL DEFAULT 'all' CHECK (scope_kind IN ('all', 'skus', 'merchant')),
  scope_values text[]      NOT NULL DEFAULT '{}',
  stackable    boolean     NOT NULL DEFAULT true,
  order_id     bigint,                          -- the order holding it while frozen / used
  description  text        NOT NULL DEFAULT '',
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS coupons_owner ON coupons (owner_id);

CREATE TABLE IF NOT EXISTS points_accounts (
  buyer_id text   PRIMARY KEY,
  balance  bigint NOT NULL CHECK (balance >= 0),   -- spendable
  frozen   bigint NOT NULL DEFAULT 0 CHECK (frozen >= 0)
);
-- Points held by an order: frozen at create, used at payment, returned at cancel.
CREATE TABLE IF NOT EXISTS points_holds (
  order_id bigint PRIMARY KEY,
  buyer_id text   NOT NULL,
  points   bigint NOT NULL CHECK (points > 0),
  state    text   NOT NULL CHECK (state IN ('frozen', 'used', 'returned'))
);
