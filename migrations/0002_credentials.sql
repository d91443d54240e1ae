-- Password hashes of local accounts. They live outside the objects table
-- so that no API read can ever return them.
CREATE TABLE credentials (
    username   text        PRIMARY KEY,
    hash       text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
