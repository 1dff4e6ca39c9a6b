-- Secrets that must stay out of the immutable log and be really deletable, shared by every
-- instance on this database (see engine/src/secrets.rs): the per-person keys that seal
-- personal data, and the SHA-256 hashes of API tokens (never the secrets themselves).
-- Erasing a person deletes their row and then rewrites this small table with VACUUM FULL
-- (store/postgres/secrets.rs), so no copy of the key is left in its data files.
CREATE TABLE convene_person_keys (
    person_id  text        PRIMARY KEY,
    key        bytea       NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE convene_tokens (
    id         text  PRIMARY KEY,
    hash       bytea NOT NULL UNIQUE,
    role       text  NOT NULL,
    scope      text  NOT NULL,
    name       text,
    created_at text  NOT NULL,
    revoked_at text
);
