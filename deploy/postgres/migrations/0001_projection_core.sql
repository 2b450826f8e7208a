-- The query service's read models, projected from the event log (see docs/architecture.md).
-- Ids are ULID-style strings that sort by creation time; COLLATE "C" keeps that order bytewise.

-- Where the projector is in each partition: the offset of the next record to apply. Written in the same
-- transaction as the rows those records produced, so a crash never double-applies or skips an event.
CREATE TABLE projection_offsets (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (topic, partition)
);

-- Every event projected, as it was in the log: the audit history.
-- `payload` never holds encrypted webhook secrets; `raw` keeps the exact bytes for hash-chain verification.
-- Served documents are `json`, not `jsonb`, so they keep the key order they were written with.
CREATE TABLE events (
    topic          text        NOT NULL,
    partition      int         NOT NULL,
    "offset"       bigint      NOT NULL,
    id             text        NOT NULL,
    type           text        NOT NULL,
    schema_version int         NOT NULL,
    aggregate_id   text        COLLATE "C" NOT NULL,
    sequence       bigint      NOT NULL,
    occurred_at    timestamptz NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text,
    actor          jsonb       NOT NULL,
    payload        json        NOT NULL,
    previous_hash  text,
    raw            bytea       NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX events_by_aggregate ON events (aggregate_id, sequence);
CREATE INDEX events_by_id ON events (id);
CREATE INDEX events_by_occurred_at ON events (occurred_at);

-- Records that could not be decoded or applied; skipped so the rest of the log flows on.
CREATE TABLE projection_errors (
    id          bigserial   PRIMARY KEY,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    error       text        NOT NULL,
    raw         bytea,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Each workflow's current state. `document` is the public representation less the webhook `url`s, which are
-- added when served (they depend on FLOWMATIC_PUBLIC_URL, not on the log).
CREATE TABLE workflows (
    id          text        COLLATE "C" PRIMARY KEY,
    version     int         NOT NULL,
    name        text        NOT NULL,
    description text,
    active      boolean     NOT NULL,
    document    json        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false
);
CREATE INDEX workflows_live_newest_first ON workflows (id DESC) WHERE NOT deleted;

-- Every version of every workflow, deleted ones included: the document as GET returned it at that version.
CREATE TABLE workflow_versions (
    workflow_id text        COLLATE "C" NOT NULL,
    version     int         NOT NULL,
    change      text        NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    actor       jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    document    json,
    PRIMARY KEY (workflow_id, version)
);
