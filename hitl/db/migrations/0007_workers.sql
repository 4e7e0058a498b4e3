-- Worker heartbeats (hitl/workers.py): every service process (`hitl serve`, `hitl worker`)
-- upserts its row every HITL_WORKER_HEARTBEAT_SECONDS, so the Status page shows idle workers
-- too, not only those holding a run lease. A clean stop sets stopped_at; rows whose heartbeat
-- is a day old are deleted by the heartbeats of the others.
CREATE TABLE hitl_workers (
    -- host:pid:random, also the lease owner of the runs and deliveries the process holds
    id                 text PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('serve', 'worker')),
    host               text NOT NULL,
    pid                integer NOT NULL,
    version            text NOT NULL,
    -- what the process runs: api, runner, timers, webhook_delivery, event_relay, retention
    work               text[] NOT NULL DEFAULT '{}',
    started_at         timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz
);
CREATE INDEX hitl_workers_heartbeat ON hitl_workers (last_heartbeat_at);

-- Retention of finished runs of live threads (hitl/retention.py), oldest first.
CREATE INDEX hitl_runs_finished ON hitl_runs (finished_at) WHERE status IN ('done', 'failed');
