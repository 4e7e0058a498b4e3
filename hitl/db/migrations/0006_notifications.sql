-- Notifications (hitl/notifications/): email and Slack messages about requests, an outbox like
-- webhook deliveries. A trigger on hitl_events queues them, so a notification exists if and only
-- if its event committed, whichever code path wrote the event.

-- Which channels are on. Each service process records its own configuration here when it
-- starts (HITL_SMTP_HOST set: email; HITL_SLACK_WEBHOOK_URL set: slack), so the trigger, which
-- cannot see settings, queues only what some process can send.
CREATE TABLE hitl_notification_channels (
    channel     text PRIMARY KEY CHECK (channel IN ('email', 'slack')),
    enabled     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hitl_notification_channels (channel) VALUES ('email'), ('slack');

-- One message to one recipient about one event. The message is written when it is sent, from
-- the request as it is then: the row holds whom and why, not the text.
CREATE TABLE hitl_notifications (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    channel           text NOT NULL CHECK (channel IN ('email', 'slack')),
    -- email: the address; slack: 'slack' (the webhook URL is a secret setting, never stored).
    recipient         text NOT NULL,
    username          text,
    event_id          bigint NOT NULL,
    event_type        text NOT NULL,
    request_id        uuid NOT NULL REFERENCES hitl_requests (id) ON DELETE CASCADE,
    -- What the event said that the message shows (e.g. a reminder's deadline_at).
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    -- Attempts started (counted when claimed, so a sender that dies mid-send uses one up).
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    UNIQUE (event_id, channel, recipient)
);
CREATE INDEX hitl_notifications_due ON hitl_notifications (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX hitl_notifications_leases ON hitl_notifications (lease_expires_at)
    WHERE status = 'sending';
CREATE INDEX hitl_notifications_request ON hitl_notifications (request_id, created_at);
CREATE INDEX hitl_notifications_settled ON hitl_notifications (updated_at)
    WHERE status IN ('sent', 'failed');

-- Email goes to the people the event concerns: its `assignees` and members of its `groups`
-- when the event names them (the events of hitl/db/queries.py do: the request's assignment as
-- the event left it, e.g. an escalation's new one), else the request's assignees and assigned
-- groups; a request assigned to nobody goes to every responder and admin. Only enabled
-- responders and admins (viewers cannot answer) with an address who have not turned email off
-- ({"email": false}). Slack gets one message per event. Nothing is queued for a request that
-- does not exist.
CREATE FUNCTION hitl_queue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req_id     uuid;
    people     text[];
    groups     text[];
    details    jsonb;
    email_on   boolean;
    slack_on   boolean;
    queued     integer := 0;
    n          integer;
BEGIN
    SELECT coalesce(bool_or(enabled) FILTER (WHERE channel = 'email'), false),
           coalesce(bool_or(enabled) FILTER (WHERE channel = 'slack'), false)
    INTO email_on, slack_on
    FROM hitl_notification_channels;
    IF NOT (email_on OR slack_on) OR NOT (NEW.data ? 'request_id') THEN
        RETURN NULL;  -- notifications off (the default): one small read per request event
    END IF;
    req_id := (NEW.data ->> 'request_id')::uuid;
    SELECT assignees, assigned_groups INTO people, groups FROM hitl_requests WHERE id = req_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(NEW.data -> 'assignees') = 'array'
       OR jsonb_typeof(NEW.data -> 'groups') = 'array' THEN
        people := ARRAY(SELECT jsonb_array_elements_text(
            CASE jsonb_typeof(NEW.data -> 'assignees') WHEN 'array' THEN NEW.data -> 'assignees'
                 ELSE '[]'::jsonb END));
        groups := ARRAY(SELECT jsonb_array_elements_text(
            CASE jsonb_typeof(NEW.data -> 'groups') WHEN 'array' THEN NEW.data -> 'groups'
                 ELSE '[]'::jsonb END));
    END IF;
    details := jsonb_strip_nulls(jsonb_build_object('deadline_at', NEW.data -> 'deadline_at'));

    IF email_on THEN
        INSERT INTO hitl_notifications
            (channel, recipient, username, event_id, event_type, request_id, details)
        SELECT 'email', btrim(u.email), u.username, NEW.id, NEW.type, req_id, details
        FROM hitl_users u
        WHERE u.disabled_at IS NULL
          AND u.role IN ('admin', 'responder')  -- viewers cannot answer
          AND coalesce(btrim(u.email), '') <> ''
          AND coalesce(u.preferences ->> 'email', 'true') <> 'false'
          AND (cardinality(people) = 0 AND cardinality(groups) = 0
               OR u.username = ANY(people)
               OR EXISTS (SELECT 1 FROM hitl_group_members m
                          WHERE m.user_id = u.id AND m.group_name = ANY(groups)))
        ON CONFLICT (event_id, channel, recipient) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        queued := queued + n;
    END IF;
    IF slack_on THEN
        INSERT INTO hitl_notifications
            (channel, recipient, event_id, event_type, request_id, details)
        VALUES ('slack', 'slack', NEW.id, NEW.type, req_id, details)
        ON CONFLICT (event_id, channel, recipient) DO NOTHING;
        queued := queued + 1;
    END IF;
    IF queued > 0 THEN
        PERFORM pg_notify('hitl_notifications', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER hitl_events_notifications AFTER INSERT ON hitl_events
    FOR EACH ROW
    WHEN (NEW.type IN ('request.created', 'request.escalated', 'request.reminded'))
    EXECUTE FUNCTION hitl_queue_notifications();
