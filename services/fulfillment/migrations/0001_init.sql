-- fulfillment owns this database; its domain tables arrive with its issue. The outbox and inbox tables
-- are added by libs/events (migrations 9001+).
SELECT 1;
