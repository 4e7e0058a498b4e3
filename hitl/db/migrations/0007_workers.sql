-- Retention of finished runs of live threads (hitl/retention.py), oldest first.
CREATE INDEX hitl_runs_finished ON hitl_runs (finished_at) WHERE status IN ('done', 'failed');
