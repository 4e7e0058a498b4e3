-- External requests without a webhook, and withdrawn by their creator (hitl/external.py).
--
-- A request created without `callback_webhook` has no callback endpoint (the columns were
-- nullable already): its creator long-polls `GET /api/v1/requests/{id}/wait` instead.
-- A withdrawn request is 'cancelled' (a state the table allowed from the start) with a
-- 'request.cancelled' event; an external request with a callback is told so there too, with
-- the callback shape of 0009 and `event: request.cancelled`, `response: null` and
-- `cancelled_by`, so an agent's receiver stops waiting for an answer that will not come.
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
    IF NEW.type IN ('request.responded', 'request.cancelled')
       AND NEW.data ->> 'kind' = 'external' THEN
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
    IF callback IS NOT NULL AND NEW.type = 'request.responded' THEN
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
    ELSIF callback IS NOT NULL THEN
        INSERT INTO hitl_webhook_deliveries
            (endpoint_id, event_id, event_type, kind, request_id, body)
        VALUES (callback, NEW.id, NEW.type, 'callback', req_id,
                jsonb_build_object(
                    'event', 'request.cancelled',
                    'request_id', req_id,
                    'metadata', jsonb_build_object(
                        'workflow_id', NEW.data -> 'workflow_id',
                        'checkpoint_id', NEW.data -> 'checkpoint_id'),
                    'response', NULL,
                    'cancelled_by', NEW.data -> 'cancelled_by',
                    'cancelled_at', NEW.data -> 'cancelled_at',
                    'created_by', creator,
                    'created_by_subject', creator_subject)::text)
        RETURNING id INTO delivery;
    END IF;
    IF delivery IS NOT NULL THEN
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
