-- The audit log: one row per command outcome (topic `outcomes`) and per webhook delivery, accepted or rejected
-- (topic `webhooks`), see services/query/src/flowmatic_query/domain/audit.py. Served newest first by
-- (occurred_at, event_id): both come from the log, so a rebuilt table pages exactly like the one it replaces.
CREATE TABLE audit (
    event_id     text        COLLATE "C" PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    -- the envelope's actor {kind, id}: an API key by its id (never its value), a webhook, or the system
    actor_kind   text        NOT NULL,
    actor_id     text        NOT NULL,
    action       text        NOT NULL,
    aggregate_id text        COLLATE "C" NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    reason       text
);
CREATE INDEX audit_newest_first ON audit (occurred_at DESC, event_id DESC);
CREATE INDEX audit_by_aggregate ON audit (aggregate_id);
