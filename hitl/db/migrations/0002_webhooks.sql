-- Webhooks: endpoints, deliveries (an outbox per endpoint), every attempt; external requests;
-- idempotency keys. Deliveries are fanned out from hitl_events by a trigger, so each state
-- change, its event and its deliveries commit together (see hitl/webhooks/__init__.py).

CREATE TABLE hitl_webhook_endpoints (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url                         text NOT NULL,
    description                 text,
    events                      text[] NOT NULL DEFAULT '{}',
    enabled                     boolean NOT NULL DEFAULT true,
    -- Standard Webhooks secrets (whsec_...): the service must sign, so it keeps them.
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    disabled_reason             text,
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_webhook_endpoints_created ON hitl_webhook_endpoints (created_at DESC, id DESC);
CREATE INDEX hitl_webhook_endpoints_url ON hitl_webhook_endpoints (url) WHERE enabled;
CREATE INDEX hitl_webhook_endpoints_events ON hitl_webhook_endpoints USING gin (events)
    WHERE enabled;

-- Requests created over REST by agents outside the service: no thread, a callback instead.
ALTER TABLE hitl_requests
    ALTER COLUMN thread_id DROP NOT NULL,
    ALTER COLUMN interrupt_id DROP NOT NULL,
    ALTER COLUMN graph DROP NOT NULL,
    ADD COLUMN kind text NOT NULL DEFAULT 'interrupt' CHECK (kind IN ('interrupt', 'external')),
    ADD COLUMN workflow_id text,
    ADD COLUMN checkpoint_id text,
    ADD COLUMN callback_endpoint_id uuid
        REFERENCES hitl_webhook_endpoints (id) ON DELETE SET NULL,
    ADD COLUMN callback_webhook text,
    -- The callback's delivery and where it stands (kept here so the inbox shows it unjoined).
    ADD COLUMN callback_delivery_id uuid,
    ADD COLUMN callback_state text,
    ADD COLUMN title text,
    ADD COLUMN description text,
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN expires_at timestamptz,
    ADD CONSTRAINT hitl_requests_kind_shape CHECK (
        CASE kind
            WHEN 'interrupt' THEN thread_id IS NOT NULL AND interrupt_id IS NOT NULL
                                  AND graph IS NOT NULL
            ELSE thread_id IS NULL AND workflow_id IS NOT NULL
        END
    );
CREATE INDEX hitl_requests_expiring ON hitl_requests (expires_at)
    WHERE state = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX hitl_requests_kind ON hitl_requests (kind, state, created_at DESC, id DESC);

-- One message to one endpoint. Its id is the `webhook-id` of every attempt; `body` is fixed
-- when it is created, so every retry sends (and signs) the same bytes.
CREATE TABLE hitl_webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id       uuid NOT NULL REFERENCES hitl_webhook_endpoints (id) ON DELETE CASCADE,
    event_id          bigint,
    event_type        text NOT NULL,
    kind              text NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'callback')),
    request_id        uuid REFERENCES hitl_requests (id) ON DELETE SET NULL,
    body              text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    -- A redelivery asked for by hand: one attempt, outside the retry schedule.
    manual            boolean NOT NULL DEFAULT false,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_status       integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz
);
CREATE INDEX hitl_webhook_deliveries_due ON hitl_webhook_deliveries (next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX hitl_webhook_deliveries_leases ON hitl_webhook_deliveries (lease_expires_at)
    WHERE state = 'delivering';
CREATE INDEX hitl_webhook_deliveries_endpoint
    ON hitl_webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX hitl_webhook_deliveries_request ON hitl_webhook_deliveries (request_id, created_at)
    WHERE request_id IS NOT NULL;

CREATE TABLE hitl_webhook_attempts (
    id                 bigserial PRIMARY KEY,
    delivery_id        uuid NOT NULL REFERENCES hitl_webhook_deliveries (id) ON DELETE CASCADE,
    attempt            integer NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now(),
    webhook_timestamp  bigint,
    outcome            text NOT NULL
                       CHECK (outcome IN ('succeeded', 'failed', 'blocked', 'timeout', 'error')),
    status_code        integer,
    latency_ms         double precision,
    error              text,
    response_excerpt   text
);
CREATE INDEX hitl_webhook_attempts_delivery ON hitl_webhook_attempts (delivery_id, id);

-- Fan-out: one delivery per enabled endpoint subscribed to the event's type ('*' or the exact
-- type) and, when an external request is answered, its callback (with the callback payload,
-- and instead of the plain event for that endpoint).
CREATE FUNCTION hitl_fan_out_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req_id    uuid;
    callback  uuid;
    delivery  uuid;
    queued    integer;
BEGIN
    IF NEW.type LIKE 'request.%' AND NEW.data ? 'request_id' THEN
        req_id := (NEW.data ->> 'request_id')::uuid;
    END IF;
    IF NEW.type = 'request.responded' AND NEW.data ->> 'kind' = 'external' THEN
        SELECT callback_endpoint_id INTO callback FROM hitl_requests WHERE id = req_id;
    END IF;
    INSERT INTO hitl_webhook_deliveries (endpoint_id, event_id, event_type, request_id, body)
    SELECT e.id, NEW.id, NEW.type, req_id,
           jsonb_build_object('type', NEW.type, 'timestamp', NEW.created_at,
                              'data', NEW.data)::text
    FROM hitl_webhook_endpoints e
    WHERE e.enabled AND e.events && ARRAY['*', NEW.type]
      AND e.id IS DISTINCT FROM callback;
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF callback IS NOT NULL THEN
        INSERT INTO hitl_webhook_deliveries
            (endpoint_id, event_id, event_type, kind, request_id, body)
        VALUES (callback, NEW.id, NEW.type, 'callback', req_id,
                jsonb_build_object(
                    'event', 'request.responded',
                    'request_id', req_id,
                    'metadata', jsonb_build_object(
                        'workflow_id', NEW.data -> 'workflow_id',
                        'checkpoint_id', NEW.data -> 'checkpoint_id'),
                    'response', NEW.data -> 'response',
                    'responded_by', NEW.data -> 'responded_by',
                    'responded_at', NEW.data -> 'responded_at')::text)
        RETURNING id INTO delivery;
        UPDATE hitl_requests SET callback_delivery_id = delivery, callback_state = 'pending'
        WHERE id = req_id;
        queued := queued + 1;
    END IF;
    IF queued > 0 THEN
        PERFORM pg_notify('hitl_webhooks', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER hitl_events_fan_out AFTER INSERT ON hitl_events
    FOR EACH ROW EXECUTE FUNCTION hitl_fan_out_event();

-- Idempotency-Key: the first response to (scope, key) is kept and replayed.
CREATE TABLE hitl_idempotency_keys (
    scope         text NOT NULL,
    key           text NOT NULL,
    fingerprint   text NOT NULL,
    status_code   integer,
    body          jsonb,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    locked_until  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX hitl_idempotency_keys_expires ON hitl_idempotency_keys (expires_at);
