-- Parked rows leave outbox_unpublished (the relay deletes them when it parks them, UnparkOutbox
-- puts them back), so a claim never walks past a pile of parked rows; its held-back check finds
-- them through the outbox_parked index instead. Rows that 9101 queued while parked leave now.
DELETE FROM outbox_unpublished u USING outbox o
WHERE o.id = u.id AND o.parked_at IS NOT NULL;
