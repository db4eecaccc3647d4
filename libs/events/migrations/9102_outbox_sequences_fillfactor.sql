-- Every append updates its aggregate's row in outbox_sequences. last_sequence is in no index, so
-- the update can be HOT (no new primary-key entry) when the row's page has room for the new
-- version; on full pages about a third of them were not (measured in bench/run outbox: 35,743
-- HOT of 54,770). Half-empty pages keep them HOT. Applies to pages written from now on.
ALTER TABLE outbox_sequences SET (fillfactor = 50);
-- outbox_unpublished empties from its start and fills at its end: truncating its empty tail
-- would take an exclusive lock the appending writers queue behind.
ALTER TABLE outbox_unpublished SET (vacuum_truncate = false);
