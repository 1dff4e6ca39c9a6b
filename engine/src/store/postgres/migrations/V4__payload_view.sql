-- The payload view (engine/src/issue/payload_view.rs): what the issue record reads of a
-- payload, in a byte form written once at append, so a whole-log replay decodes it instead of
-- parsing the payload's JSON every time. Not hashed: `data` stays what the chain covers, and a
-- verifying read checks the view against it. NULL: not written yet (a row from before this
-- migration, an older convene's, or one whose view format changed), filled in by the process
-- that starts next (views.rs); until then a fold parses that row's payload.
ALTER TABLE convene_events ADD COLUMN payload_view bytea;
CREATE INDEX convene_events_without_payload_view ON convene_events (position) WHERE payload_view IS NULL;
-- Settings of the stored data itself; `payload_view_format` is the format of the views above.
CREATE TABLE convene_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
