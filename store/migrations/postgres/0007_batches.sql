-- Batched sending (issue 4). A worker claims and records a hundred
-- deliveries at a time, and the feeder hands pending deliveries to the
-- queue a window at a time, so the indexes a delivery passes through on
-- its way from pending to sent are what a campaign of millions costs:
--
--   * deliveries_pending finds the next page of a campaign's pending
--     deliveries on one channel; it holds pending rows only, so a
--     delivery enters it once, at import, and never again.
--   * provider ids and the reputation guard's recent outcomes are indexed
--     only where they exist: a delivery no longer writes an empty
--     provider id into an index at import, nor an entry into the guard's
--     index every time it changes state on its way.
--   * not_before keeps a re-send's earliest time in the ledger (a retry
--     after back-off, a soft bounce's four-hour wait), so it survives the
--     queue losing its job and a duplicate job cannot send it early.
ALTER TABLE deliveries ADD COLUMN not_before timestamptz;

CREATE INDEX deliveries_pending ON deliveries (campaign_id, channel, id) WHERE state = 'pending';

DROP INDEX deliveries_provider;
CREATE INDEX deliveries_provider ON deliveries (provider_id) WHERE provider_id <> '';

DROP INDEX deliveries_campaign_updated;
CREATE INDEX deliveries_campaign_finished ON deliveries (campaign_id, channel, updated_at)
	WHERE state IN ('sent', 'delivered', 'bounced_hard', 'bounced_soft', 'failed');

-- The hot tables keep no foreign keys. Each one costs a trigger and a
-- look-up with a row lock on the parent for every row inserted: measured
-- with BenchmarkImportContacts and BenchmarkSendPath, the four below took
-- a quarter of an import's and of a batch's database time. The store is
-- the only writer of these tables, always inside a transaction that has
-- just checked or written the parent, and DeleteCampaign removes a
-- campaign's events, deliveries and contacts itself (store/campaign.go);
-- the store conformance suite checks both. The small tables (templates,
-- rejects, imports, print batches, sessions) keep theirs.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_delivery_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_contact_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_campaign_id_fkey;
ALTER TABLE contacts DROP CONSTRAINT IF EXISTS contacts_campaign_id_fkey;
