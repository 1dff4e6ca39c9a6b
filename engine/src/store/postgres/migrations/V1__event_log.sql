-- The event log. One row per event; the column set mirrors the embedded store so a log
-- moves between backends unchanged (ids, versions, positions, recorded times, hashes).
CREATE TABLE convene_events (
    position        bigint      PRIMARY KEY,
    id              uuid        NOT NULL UNIQUE,
    stream          text        NOT NULL,
    version         bigint      NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    recorded_at     timestamptz NOT NULL,
    actor_id        text        NOT NULL,
    actor_role      text        NOT NULL,
    actor_name      text,
    actor_community text,
    correlation_id  uuid,
    causation_id    uuid,
    -- Canonical JSON as text, not jsonb: the hash chain covers these exact bytes.
    data            text        NOT NULL,
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL,
    CONSTRAINT convene_events_stream_version UNIQUE (stream, version),
    CONSTRAINT convene_events_position_positive CHECK (position > 0),
    CONSTRAINT convene_events_version_nonneg CHECK (version >= 0)
);

-- Streams in creation order (list_streams).
CREATE INDEX convene_events_stream_starts ON convene_events (position) WHERE version = 0;

-- The single row every append transaction locks first (SELECT ... FOR UPDATE): it hands out
-- global positions and serialises commits cluster-wide, so positions are gap-free and in
-- commit order. It also keeps the last recorded time, so recorded times never go back.
CREATE TABLE convene_log (
    id          smallint    PRIMARY KEY CHECK (id = 1),
    position    bigint      NOT NULL,
    recorded_at timestamptz
);
INSERT INTO convene_log (id, position, recorded_at) VALUES (1, 0, NULL);
