-- Delegation (hitl/delegation.py): while a person is away, another answers for them. One
-- delegation per person (setting it again replaces it), for a window of time. An answer given
-- for someone records whom for (`responded_for`), so the audit reads "answered by bo for ana".
CREATE TABLE hitl_delegations (
    delegator   text PRIMARY KEY REFERENCES hitl_users (username) ON DELETE CASCADE
                ON UPDATE CASCADE,
    delegate    text NOT NULL REFERENCES hitl_users (username) ON DELETE CASCADE
                ON UPDATE CASCADE,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (delegate <> delegator),
    CHECK (ends_at > starts_at)
);
CREATE INDEX hitl_delegations_delegate ON hitl_delegations (delegate);

ALTER TABLE hitl_requests ADD COLUMN responded_for text;

-- Notifications follow a delegation: the email of a request routed to a person goes to their
-- delegate too while the window is open (as 0006's function, with one more way in; the trigger
-- is 0019's).
CREATE OR REPLACE FUNCTION hitl_queue_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
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
                          WHERE m.user_id = u.id AND m.group_name = ANY(groups))
               -- a delegate, while the window is open, of someone it is for (one link)
               OR EXISTS (SELECT 1 FROM hitl_delegations d
                          JOIN hitl_users o ON o.username = d.delegator
                          WHERE d.delegate = u.username
                            AND now() >= d.starts_at AND now() < d.ends_at
                            AND (o.username = ANY(people)
                                 OR EXISTS (SELECT 1 FROM hitl_group_members m2
                                            WHERE m2.user_id = o.id
                                              AND m2.group_name = ANY(groups)))))
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
