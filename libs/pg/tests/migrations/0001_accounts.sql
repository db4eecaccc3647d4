-- Semicolons, quotes and a dollar-quoted body must survive embedding verbatim.
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  owner text NOT NULL,
  balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0)
);
COMMENT ON TABLE accounts IS 'it''s a test table; with a semicolon';
