-- Campaign settings (schedule, deadline, quiet hours, and later rules) as
-- one JSON document, so a new optional rule needs no schema change.
ALTER TABLE campaigns ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
