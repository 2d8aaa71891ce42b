-- Eligibility and the postal channel (issue 6): per-contact consent to
-- e-mail and do-not-e-mail, the mailing address as imported, and the print
-- batches handed to a mail house. A letter's delivery names its batch in
-- provider_id ('print-batch-<id>'), which deliveries_provider indexes.
ALTER TABLE contacts ADD COLUMN email_consent TEXT NOT NULL DEFAULT '';  -- '', 'yes' or 'no'
ALTER TABLE contacts ADD COLUMN do_not_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN address_line1 TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN address_line2 TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN city TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN region TEXT NOT NULL DEFAULT '';

CREATE TABLE postal_batches (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	status      TEXT NOT NULL,              -- handed_to_print, mailed
	letters     INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL,
	mailed_at   TEXT
) STRICT;
CREATE INDEX postal_batches_campaign ON postal_batches (campaign_id, id);
