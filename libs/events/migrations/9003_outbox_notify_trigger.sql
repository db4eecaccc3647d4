-- Wake the relay at commit with one NOTIFY per inserting statement (PostgreSQL folds identical
-- notifications of one transaction), instead of a round trip per appended event.
CREATE OR REPLACE FUNCTION orderly_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('orderly_outbox', '');
  RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION orderly_outbox_notify();
