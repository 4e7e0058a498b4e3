-- What LangGraph's Agent Server API (hitl/agent_server) needs of threads and runs.
--
-- Threads: one can be created empty (POST /threads): it has no graph until its first run names
-- an assistant, and rests as 'idle'.
ALTER TABLE hitl_threads ALTER COLUMN graph DROP NOT NULL;
ALTER TABLE hitl_threads DROP CONSTRAINT hitl_threads_status_check;
ALTER TABLE hitl_threads ADD CONSTRAINT hitl_threads_status_check
    CHECK (status IN ('idle', 'queued', 'running', 'interrupted', 'completed', 'failed'));

-- Runs:
-- * public_id: the run's id at that door (a UUID, as its clients expect);
-- * kinds 'input' (new input, or a command's update/goto, on a thread at rest: its next turn)
--   and 'update' (update_state, applied by the runner so that its record reconciles the
--   thread's requests as any run's does);
-- * status 'pending': queued behind the thread's active run (multitask_strategy 'enqueue'),
--   promoted to 'queued' when that one ends; the one-active-run index still holds;
--   'cancelled': cancelled before or while it ran;
-- * options: what the caller passed on to LangGraph (config, context, metadata,
--   interrupt_before/after, durability), its webhook endpoint, its multitask strategy;
-- * cancel: a cancel asked for while the run runs ('interrupt' or 'rollback'), which the
--   worker holding it acts on.
ALTER TABLE hitl_runs ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX hitl_runs_public_id ON hitl_runs (public_id);
ALTER TABLE hitl_runs DROP CONSTRAINT hitl_runs_kind_check;
ALTER TABLE hitl_runs ADD CONSTRAINT hitl_runs_kind_check
    CHECK (kind IN ('start', 'resume', 'input', 'update'));
ALTER TABLE hitl_runs DROP CONSTRAINT hitl_runs_status_check;
ALTER TABLE hitl_runs ADD CONSTRAINT hitl_runs_status_check
    CHECK (status IN ('pending', 'queued', 'running', 'done', 'failed', 'cancelled'));
ALTER TABLE hitl_runs ADD COLUMN options jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE hitl_runs ADD COLUMN cancel text CHECK (cancel IN ('interrupt', 'rollback'));
CREATE INDEX hitl_runs_pending ON hitl_runs (thread_id, id) WHERE status = 'pending';

-- Thread search at that door: by metadata (containment), and newest created first.
CREATE INDEX hitl_threads_metadata ON hitl_threads USING gin (metadata jsonb_path_ops);
CREATE INDEX hitl_threads_created ON hitl_threads (created_at DESC, thread_id DESC);
CREATE INDEX hitl_threads_status_created ON hitl_threads (status, created_at DESC, thread_id DESC);
