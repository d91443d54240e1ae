-- The revision counter. Every write transaction takes this row's lock to
-- allocate its revisions and holds it until commit, so transactions commit
-- in revision order: a reader that sees revision N has seen every revision
-- below N (no gaps from out-of-order sequence commits).
CREATE TABLE revision (
    id  int    PRIMARY KEY CHECK (id = 1),
    rv  bigint NOT NULL
);
INSERT INTO revision (id, rv) VALUES (1, 0);

-- The current state of every object. Cluster-scoped objects have project ''.
CREATE TABLE objects (
    resource text    NOT NULL,
    project  text    NOT NULL,
    name     text    NOT NULL,
    rv       bigint  NOT NULL,
    labels   jsonb   NOT NULL DEFAULT '{}',
    deleting boolean NOT NULL DEFAULT false,
    body     json    NOT NULL,
    PRIMARY KEY (resource, project, name)
);

-- The revision log that watches replay. Old entries are compacted away;
-- compaction.rv is the newest revision removed.
CREATE TABLE events (
    rv         bigint      PRIMARY KEY,
    resource   text        NOT NULL,
    project    text        NOT NULL,
    name       text        NOT NULL,
    type       text        NOT NULL,
    body       json        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE compaction (
    id int    PRIMARY KEY CHECK (id = 1),
    rv bigint NOT NULL
);
INSERT INTO compaction (id, rv) VALUES (1, 0);
