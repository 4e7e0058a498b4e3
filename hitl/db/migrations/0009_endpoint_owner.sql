-- Webhook endpoints belong to whoever registered them, and an external request may call back
-- only an endpoint its creator owns or one an admin shared with it (hitl/external.py). Without
-- this, any caller allowed to create requests could have the service sign an "answer" with
-- another agent's endpoint secret, for a workflow of that agent's choosing.
--
-- owner is the registering principal's stable identity (`Principal.subject`: user:<id> or
-- key:<id>). Endpoints registered before this migration have no owner: they belong to the
-- admins (only admins see, change and call back to them) until an admin shares them.
-- shared_with lists the subjects (or '*': every caller allowed to create requests) that may
-- name the endpoint as their callback; only admins set it.
ALTER TABLE hitl_webhook_endpoints
    ADD COLUMN owner text,
    ADD COLUMN owner_name text,
    ADD COLUMN shared_with text[] NOT NULL DEFAULT '{}';
CREATE INDEX hitl_webhook_endpoints_owner
    ON hitl_webhook_endpoints (owner, created_at DESC, id DESC);

-- Who created an external request (name for people, subject for machines), so its callback can
-- say so.
ALTER TABLE hitl_requests
    ADD COLUMN created_by text,
    ADD COLUMN created_by_subject text;

-- As in 0002, with the callback naming the request's creator too (`created_by`,
-- `created_by_subject`); a deadline's default answer says `responded_by: system:timeout`.
CREATE OR REPLACE FUNCTION hitl_fan_out_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req_id    uuid;
    callback  uuid;
    creator   text;
    creator_subject text;
    delivery  uuid;
    queued    integer;
BEGIN
    IF NEW.type LIKE 'request.%' AND NEW.data ? 'request_id' THEN
        req_id := (NEW.data ->> 'request_id')::uuid;
    END IF;
    IF NEW.type = 'request.responded' AND NEW.data ->> 'kind' = 'external' THEN
        SELECT callback_endpoint_id, created_by, created_by_subject
        INTO callback, creator, creator_subject
        FROM hitl_requests WHERE id = req_id;
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
                    'responded_at', NEW.data -> 'responded_at',
                    'created_by', creator,
                    'created_by_subject', creator_subject)::text)
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
