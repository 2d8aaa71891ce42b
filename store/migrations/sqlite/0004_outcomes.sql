-- Provider outcomes: find a delivery by the provider's message id, count
-- complaints for the sender-reputation guard, and remember provider
-- idempotency tokens so a redelivered webhook or bounce is applied once.
ALTER TABLE deliveries ADD COLUMN complained INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_provider ON deliveries (provider_id);
CREATE INDEX deliveries_campaign_updated ON deliveries (campaign_id, channel, updated_at);

CREATE TABLE provider_tokens (
	source  TEXT NOT NULL,
	token   TEXT NOT NULL,
	seen_at TEXT NOT NULL,
	PRIMARY KEY (source, token)
) STRICT;
