-- Retention of execution read models (see services/query/README.md, "Retention"): a workflow's
-- `executionRetentionDays`, and which workflow every execution belongs to, kept even after the sweep deleted the
-- execution's row, so lifting the setting can re-project exactly that workflow's executions from `events`.
ALTER TABLE workflows ADD COLUMN execution_retention_days int CHECK (execution_retention_days > 0);

CREATE TABLE execution_owners (
    execution_id text COLLATE "C" PRIMARY KEY,
    workflow_id  text COLLATE "C" NOT NULL
);
CREATE INDEX execution_owners_by_workflow ON execution_owners (workflow_id);
INSERT INTO execution_owners (execution_id, workflow_id) SELECT id, workflow_id FROM executions;

CREATE INDEX executions_finished_by_workflow ON executions (workflow_id, finished_at) WHERE finished_at IS NOT NULL;
