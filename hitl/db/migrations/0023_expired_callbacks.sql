-- An external request's callback is told when its deadline expires it (hitl/deadlines.py).
--
-- Until now only an answer (0009) and a withdrawal (0014) called back: an agent whose request
-- expired unanswered (no default answer) waited for a callback that never came. Now a
-- 'request.expired' event of an external request with a callback queues one more callback,
-- in the shape of the others: `event: request.expired`, `response: null`, the `reason`, the
-- `deadline_at` that passed and `expired_at`.
CREATE OR REPLACE FUNCTION hitl_fan_out_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req_id    uuid;
    callback  uuid;
    creator   text;
    creator_subject text;
    delivery  uuid;
    queued    integer;
    about     jsonb;
BEGIN
    IF NEW.type LIKE 'request.%' AND NEW.data ? 'request_id' THEN
        req_id := (NEW.data ->> 'request_id')::uuid;
    END IF;
    IF NEW.type IN ('request.responded', 'request.cancelled', 'request.expired')
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
    IF callback IS NOT NULL THEN
        -- what every callback says: which request, for which workflow, and who asked
        about := jsonb_build_object(
            'event', NEW.type,
            'request_id', req_id,
            'metadata', jsonb_build_object(
                'workflow_id', NEW.data -> 'workflow_id',
                'checkpoint_id', NEW.data -> 'checkpoint_id'),
            'created_by', creator,
            'created_by_subject', creator_subject);
        INSERT INTO hitl_webhook_deliveries
            (endpoint_id, event_id, event_type, kind, request_id, body)
        VALUES (callback, NEW.id, NEW.type, 'callback', req_id,
                (about || CASE NEW.type
                    WHEN 'request.responded' THEN jsonb_build_object(
                        'response', NEW.data -> 'response',
                        'responded_by', NEW.data -> 'responded_by',
                        'responded_at', NEW.data -> 'responded_at')
                    WHEN 'request.cancelled' THEN jsonb_build_object(
                        'response', NULL,
                        'cancelled_by', NEW.data -> 'cancelled_by',
                        'cancelled_at', NEW.data -> 'cancelled_at')
                    ELSE jsonb_build_object(
                        'response', NULL,
                        'reason', NEW.data -> 'reason',
                        'deadline_at', NEW.data -> 'deadline_at',
                        'expired_at', NEW.created_at)
                 END)::text)
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
