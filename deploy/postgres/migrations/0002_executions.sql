-- Executions and their steps, projected from `webhooks` (WebhookReceived) and `execution-events`.
-- Values a client sent or a node produced (input, output, error) are `json`, never `jsonb` or `text`: `json` keeps
-- the text as written, so key order survives and the escape `\u0000` stays six characters (jsonb and text reject
-- NUL). Never extract them with `->>` in SQL: converting a `\u0000` to text fails; decode them in the service.

CREATE TABLE executions (
    id               text        COLLATE "C" PRIMARY KEY,
    workflow_id      text        COLLATE "C" NOT NULL,
    workflow_version int         NOT NULL,
    status           text        NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    mode             text        NOT NULL CHECK (mode IN ('webhook', 'manual', 'replay')),
    trigger_id       text        NOT NULL,
    replay_of        text        COLLATE "C",
    input            json,
    output           json,
    error            json,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    -- {nodeId: type} of the definition the execution runs: the type of a step that was never scheduled
    -- (the trigger, a skipped node) comes from here.
    node_types       json        NOT NULL,
    -- Whether ExecutionStarted has been applied (WebhookReceived alone makes a provisional row), and the
    -- sequence of the last execution event applied: a repeated sequence is refused, never applied twice.
    started          boolean     NOT NULL DEFAULT false,
    last_sequence    bigint      NOT NULL DEFAULT 0
);
-- Lists are newest first by id (ids sort by creation time) and page by id.
CREATE INDEX executions_by_workflow ON executions (workflow_id, id DESC);
CREATE INDEX executions_by_status ON executions (status, id DESC);
CREATE INDEX executions_by_started_at ON executions (started_at);

-- One row per node that an execution reached: its latest state (attempt, status, output or error).
CREATE TABLE steps (
    execution_id text        COLLATE "C" NOT NULL,
    node_id      text        NOT NULL,
    -- 1, 2, ... in the order the execution's events first touched each node: the order `steps` are served in.
    position     int         NOT NULL,
    type         text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('SCHEDULED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED')),
    attempt      int         NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    output       json,
    error        json,
    PRIMARY KEY (execution_id, node_id)
);
CREATE UNIQUE INDEX steps_in_order ON steps (execution_id, position);
