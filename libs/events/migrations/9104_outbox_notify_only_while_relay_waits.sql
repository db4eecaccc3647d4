-- Writers notify only while a relay is waiting for a notification: outbox_relay_state holds a row
-- with busy = false. No row means no relay is listening (none started, or the last one released
-- its leadership, or PostgreSQL restarted and emptied the unlogged table): a NOTIFY would wake
-- nobody and still serialize the writers' commits (a notifying transaction holds a database-wide
-- lock until its commit record is flushed, so concurrent writers could not share a WAL flush).
-- A relay that becomes leader claims before it ever waits, so it misses nothing; once idle it
-- writes busy = false and is notified from then on. A relay that died without releasing leaves
-- its row: writers keep notifying (or not) until the next leader rewrites it; the poll interval
-- bounds any missed wake-up either way.
CREATE OR REPLACE FUNCTION orderly_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM outbox_relay_state WHERE NOT busy) THEN
    PERFORM pg_notify('orderly_outbox', '');
  END IF;
  RETURN NULL;
END
$fn$;
