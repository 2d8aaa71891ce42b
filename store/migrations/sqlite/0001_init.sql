-- herald ledger, SQLite. Times are TEXT in UTC with microseconds
-- ("2006-01-02T15:04:05.000000Z"), fixed width so text order is time order.
-- AUTOINCREMENT keeps ids from being reused after a campaign is deleted,
-- so a stale queue job can never name another person's delivery.

CREATE TABLE campaigns (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	name           TEXT NOT NULL UNIQUE,
	incident_ref   TEXT NOT NULL DEFAULT '',
	default_locale TEXT NOT NULL,
	policy         TEXT NOT NULL,            -- "email,sms"
	from_name      TEXT NOT NULL DEFAULT '',
	from_email     TEXT NOT NULL DEFAULT '',
	reply_to       TEXT NOT NULL DEFAULT '',
	sms_from       TEXT NOT NULL DEFAULT '',
	sms_service    TEXT NOT NULL DEFAULT '',
	status         TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	launched_at    TEXT,
	finished_at    TEXT
) STRICT;

CREATE TABLE templates (
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	channel     TEXT NOT NULL,
	locale      TEXT NOT NULL,
	subject     TEXT NOT NULL DEFAULT '',
	text_body   TEXT NOT NULL DEFAULT '',
	html_body   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (campaign_id, channel, locale)
) STRICT, WITHOUT ROWID;

CREATE TABLE contacts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	external_id TEXT NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT '',
	email       TEXT NOT NULL DEFAULT '',
	email_lower TEXT NOT NULL DEFAULT '',   -- lower-cased in Go, the same on both backends
	phone       TEXT NOT NULL DEFAULT '',
	locale      TEXT NOT NULL DEFAULT '',
	country     TEXT NOT NULL DEFAULT '',
	attrs       TEXT,                       -- JSON object, NULL when none
	source_row  INTEGER NOT NULL DEFAULT 0,
	dedupe_key  TEXT,                       -- NULL: no key, never a duplicate
	UNIQUE (campaign_id, dedupe_key)
) STRICT;
CREATE INDEX contacts_campaign ON contacts (campaign_id, id);
CREATE INDEX contacts_email ON contacts (email_lower);
CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX contacts_external ON contacts (external_id);

CREATE TABLE deliveries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	contact_id  INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
	channel     TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	state       TEXT NOT NULL,
	generation  INTEGER NOT NULL DEFAULT 0,
	attempt     TEXT NOT NULL DEFAULT '',
	address     TEXT NOT NULL DEFAULT '',
	provider_id TEXT NOT NULL DEFAULT '',
	code        TEXT NOT NULL DEFAULT '',
	diagnostic  TEXT NOT NULL DEFAULT '',
	updated_at  TEXT NOT NULL,
	UNIQUE (contact_id, channel)
) STRICT;
CREATE INDEX deliveries_campaign_state ON deliveries (campaign_id, state, id);

-- Append-only: rows are never updated, only removed with their campaign.
CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	at          TEXT NOT NULL,
	state       TEXT NOT NULL,
	provider_id TEXT NOT NULL DEFAULT '',
	code        TEXT NOT NULL DEFAULT '',
	diagnostic  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_delivery ON events (delivery_id, id);

CREATE TABLE rejects (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	row_no      INTEGER NOT NULL,
	column_name TEXT NOT NULL DEFAULT '',
	value       TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	severity    TEXT NOT NULL,
	hash        TEXT,
	row_hash    TEXT NOT NULL DEFAULT '',
	source      TEXT NOT NULL DEFAULT '',
	UNIQUE (campaign_id, hash)
) STRICT;

CREATE TABLE imports (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	source      TEXT NOT NULL DEFAULT '',
	read_rows   INTEGER NOT NULL DEFAULT 0,
	accepted    INTEGER NOT NULL DEFAULT 0,
	rejected    INTEGER NOT NULL DEFAULT 0,
	warnings    INTEGER NOT NULL DEFAULT 0,
	duplicates  INTEGER NOT NULL DEFAULT 0,
	started_at  TEXT,
	finished_at TEXT
) STRICT;
CREATE INDEX imports_campaign ON imports (campaign_id, id);

-- Cross-campaign: an address found invalid or opted out stays suppressed
-- for every later campaign.
CREATE TABLE suppressions (
	channel    TEXT NOT NULL,
	address    TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	source     TEXT NOT NULL DEFAULT '',
	first_seen TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	PRIMARY KEY (channel, address)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      TEXT NOT NULL,
	actor   TEXT NOT NULL DEFAULT '',
	action  TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
) STRICT;
