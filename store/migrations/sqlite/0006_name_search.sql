-- Support lookup by name (issue 5). name_key is the name folded in Go
-- (dispatcher.NameKey: no case, no accents, surname first), the same on
-- both backends; it is NULL only until the backfill below has run. SQLite
-- compares TEXT bytewise, so a prefix is one range of the index, which
-- holds the rowid (the contact id) as well.
ALTER TABLE contacts ADD COLUMN name_key TEXT;
-- herald:go backfill-name-keys
CREATE INDEX contacts_name ON contacts (name_key);
