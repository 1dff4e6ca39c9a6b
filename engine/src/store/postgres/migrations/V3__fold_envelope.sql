-- The fold envelope (engine/src/event/envelope.rs): id, version, type, schema version,
-- recorded time and actor packed in one value, a copy of the columns beside it that a
-- whole-log replay reads instead of eight columns. The columns stay what the hash chain
-- covers; a verifying read checks the copy against them. Rows written before this migration
-- are filled in by the process that applies it (schema.rs), and a row still without one
-- (an older convene writing beside a newer) is read from its columns.
ALTER TABLE convene_events ADD COLUMN envelope bytea;
CREATE INDEX convene_events_without_envelope ON convene_events (position) WHERE envelope IS NULL;
