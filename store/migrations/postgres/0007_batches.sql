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
