-- Side effects recorded by `hitl.once` / `hitl.once_in_transaction` (hitl/effects.py): one row
-- per effect of a graph step, keyed by the step's effect key and the effect's name (`key` is
-- derived from both). A row is 'started' from just before an external call until its result is
-- recorded ('done'); an effect in the service's own Postgres writes its row 'done' in the
-- transaction of the effect itself. A re-run of the step (after a worker died) reads the row
-- instead of calling again. Rows go with their thread (ON DELETE CASCADE: the thread delete
-- route and the retention job).
CREATE TABLE hitl_effects (
    key          uuid PRIMARY KEY,
    thread_id    text NOT NULL REFERENCES hitl_threads (thread_id) ON DELETE CASCADE,
    step         text NOT NULL,  -- the task's checkpoint namespace: node name and task id
    name         text NOT NULL,
    state        text NOT NULL CHECK (state IN ('started', 'done')),
    result       jsonb,
    attempts     integer NOT NULL DEFAULT 1,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX hitl_effects_thread ON hitl_effects (thread_id);
