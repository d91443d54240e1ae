-- The OCI registry's metadata. Blob contents live on disk in the server's
-- data directory, addressed by digest; these tables say which blobs exist,
-- which repositories may serve them, what the manifests reference and where
-- tags point. Repositories are (project, name).

-- Every blob stored on disk. touched_at moves on every upload, mount and
-- manifest reference, so garbage collection spares blobs a push in flight
-- has just written or used.
CREATE TABLE registry_blobs (
    digest     text        PRIMARY KEY,
    size       bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    touched_at timestamptz NOT NULL DEFAULT now()
);

-- Which repositories may serve a blob (it was pushed to or mounted into
-- them): a repository only answers for its own links, so knowing a digest
-- never reads another tenant's layers.
CREATE TABLE registry_repo_blobs (
    project text NOT NULL,
    repo    text NOT NULL,
    digest  text NOT NULL REFERENCES registry_blobs (digest) ON DELETE CASCADE,
    PRIMARY KEY (project, repo, digest)
);
CREATE INDEX registry_repo_blobs_digest ON registry_repo_blobs (digest);

-- Manifests and indexes, bodies kept verbatim (their digest is the digest
-- of these exact bytes).
CREATE TABLE registry_manifests (
    project    text        NOT NULL,
    repo       text        NOT NULL,
    digest     text        NOT NULL,
    media_type text        NOT NULL,
    body       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, repo, digest)
);

-- What each manifest references: blobs (config and layers) and, for an
-- index, child manifests. Garbage collection keeps every blob named here.
CREATE TABLE registry_manifest_refs (
    project  text NOT NULL,
    repo     text NOT NULL,
    manifest text NOT NULL,
    ref      text NOT NULL,
    is_blob  boolean NOT NULL,
    PRIMARY KEY (project, repo, manifest, ref),
    FOREIGN KEY (project, repo, manifest) REFERENCES registry_manifests (project, repo, digest) ON DELETE CASCADE
);
CREATE INDEX registry_manifest_refs_ref ON registry_manifest_refs (ref) WHERE is_blob;

CREATE TABLE registry_tags (
    project    text        NOT NULL,
    repo       text        NOT NULL,
    tag        text        NOT NULL,
    digest     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, repo, tag),
    FOREIGN KEY (project, repo, digest) REFERENCES registry_manifests (project, repo, digest) ON DELETE CASCADE
);

-- Upload sessions. The data so far is in a file named after id; hash_state
-- is the running SHA-256 state after size bytes, so a chunked upload is
-- verified as it streams, across requests and servers.
CREATE TABLE registry_uploads (
    id         text        PRIMARY KEY,
    project    text        NOT NULL,
    repo       text        NOT NULL,
    size       bigint      NOT NULL DEFAULT 0,
    hash_state bytea       NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
