-- Support lookup by name (issue 5). name_key is the name folded in Go
-- (dispatcher.NameKey: no case, no accents, surname first), the same on
-- both backends; it is NULL only until the backfill below has run. COLLATE
-- "C" makes the index compare bytes, so that a prefix is one index range
-- whatever the database's collation; INCLUDE (id) lets a search read the
-- index alone.
ALTER TABLE contacts ADD COLUMN name_key text COLLATE "C";
-- herald:go backfill-name-keys
CREATE INDEX contacts_name ON contacts (name_key) INCLUDE (id);
-- The backfill rewrote every row: fresh statistics keep the planner on the
-- index. (Autovacuum then restores index-only scans; run VACUUM ANALYZE
-- contacts after upgrading a large ledger to have them at once.)
ANALYZE contacts;
