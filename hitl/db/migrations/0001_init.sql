-- The service's own tables. LangGraph's checkpoint tables are created by AsyncPostgresSaver.setup().

CREATE TABLE hitl_threads (
    thread_id   text PRIMARY KEY,
    graph       text NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'interrupted', 'completed', 'failed')),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The graph's values when its last run ended (the checkpoint has them too; this copy
    -- serves reads without deserialising checkpoints).
    values      jsonb,
    error       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_threads_updated ON hitl_threads (updated_at DESC, thread_id DESC);
CREATE INDEX hitl_threads_status ON hitl_threads (status, updated_at DESC, thread_id DESC);
CREATE INDEX hitl_threads_graph ON hitl_threads (graph, status, updated_at DESC, thread_id DESC);

-- Queued work. At most one queued-or-running run per thread: a run gathers every answer
-- recorded before it starts; answers that arrive while it runs queue the next one when it ends.
CREATE TABLE hitl_runs (
    id                bigserial PRIMARY KEY,
    thread_id         text NOT NULL REFERENCES hitl_threads (thread_id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('start', 'resume')),
    input             jsonb,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    lease_owner       text,
    lease_expires_at  timestamptz,
    available_at      timestamptz NOT NULL DEFAULT now(),
    error             jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz
);
CREATE UNIQUE INDEX hitl_runs_one_active ON hitl_runs (thread_id)
    WHERE status IN ('queued', 'running');
CREATE INDEX hitl_runs_queued ON hitl_runs (available_at, id) WHERE status = 'queued';
CREATE INDEX hitl_runs_leases ON hitl_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX hitl_runs_thread ON hitl_runs (thread_id, id);

-- One request per pending interrupt of a thread.
CREATE TABLE hitl_requests (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    thread_id        text NOT NULL REFERENCES hitl_threads (thread_id) ON DELETE CASCADE,
    interrupt_id     text NOT NULL,
    graph            text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'responded', 'resumed', 'superseded',
                                      'expired', 'cancelled')),
    value            jsonb,
    response_schema  jsonb,
    response         jsonb,
    responded_by     text,
    responded_at     timestamptz,
    run_id           bigint REFERENCES hitl_runs (id) ON DELETE SET NULL,
    closed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (thread_id, interrupt_id)
);
CREATE INDEX hitl_requests_created ON hitl_requests (created_at DESC, id DESC);
CREATE INDEX hitl_requests_state ON hitl_requests (state, created_at DESC, id DESC);
CREATE INDEX hitl_requests_graph ON hitl_requests (graph, state, created_at DESC, id DESC);
CREATE INDEX hitl_requests_responded ON hitl_requests (thread_id) WHERE state = 'responded';

-- Transactional outbox: written in the same transaction as the state change it reports.
CREATE TABLE hitl_events (
    id          bigserial PRIMARY KEY,
    type        text NOT NULL,
    subject     text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    relayed_at  timestamptz
);
CREATE INDEX hitl_events_unrelayed ON hitl_events (id) WHERE relayed_at IS NULL;
CREATE INDEX hitl_events_subject ON hitl_events (subject, id);

CREATE TABLE hitl_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    subject     text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX hitl_audit_subject ON hitl_audit (subject, id);
