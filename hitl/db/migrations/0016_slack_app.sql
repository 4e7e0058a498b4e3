-- Slack app mode (hitl/notifications/slack_app.py, hitl/api/slack.py): messages people answer
-- in place, kept up to date after any answer.

-- Which processes run as a Slack app ('slack_app', beside 'slack' for any Slack sending): only
-- app mode can update its messages, so only then are updates queued.
ALTER TABLE hitl_notification_channels DROP CONSTRAINT hitl_notification_channels_channel_check;
ALTER TABLE hitl_notification_channels ADD CONSTRAINT hitl_notification_channels_channel_check
    CHECK (channel IN ('email', 'slack', 'slack_app'));
INSERT INTO hitl_notification_channels (channel) VALUES ('slack_app');

-- A person's Slack user: found by their account's email (users.lookupByEmail: Slack vouches
-- that the address is that user's), then kept; one account per Slack user.
ALTER TABLE hitl_users ADD COLUMN slack_user_id text;
CREATE UNIQUE INDEX hitl_users_slack_user ON hitl_users (slack_user_id)
    WHERE slack_user_id IS NOT NULL;

-- Links a Slack user offers to an account: a Slack user the service does not know is sent
-- (privately, in Slack) a link with a random token (stored as its SHA-256) naming them; whoever
-- opens it signed in, within 15 minutes, links that Slack user to their account. Slack's
-- signature vouches for the Slack user, the session for the account.
CREATE TABLE hitl_slack_links (
    token_hash     bytea PRIMARY KEY,
    slack_user_id  text NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_slack_links_expires ON hitl_slack_links (expires_at);

-- Every message posted about a request (one per destination of a notification), so each copy
-- can be updated in place when the request is answered, expires or is escalated.
CREATE TABLE hitl_slack_messages (
    id               bigserial PRIMARY KEY,
    request_id       uuid NOT NULL REFERENCES hitl_requests (id) ON DELETE CASCADE,
    notification_id  uuid NOT NULL,
    -- Where it was sent (a channel id, or a user id for a direct message), and the channel
    -- and timestamp Slack gave it (a direct message's channel is the conversation's id).
    destination      text NOT NULL,
    channel          text NOT NULL,
    ts               text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, destination)
);
CREATE INDEX hitl_slack_messages_request ON hitl_slack_messages (request_id);

-- Signatures of the interactivity requests taken (their SHA-256), kept while Slack's
-- timestamp window lasts: the same signed request sent again is a replay, refused.
CREATE TABLE hitl_slack_seen (
    signature_hash  bytea PRIMARY KEY,
    seen_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_slack_seen_at ON hitl_slack_seen (seen_at);

-- After an answer (from any door, or the deadline), an expiry, a cancellation, an escalation
-- or a reassignment, every Slack copy of the request is brought up to date: one 'slack:update'
-- notification, through the outbox like any other, for requests that were posted to Slack.
CREATE FUNCTION hitl_queue_slack_updates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    req_id uuid;
BEGIN
    IF NOT (NEW.data ? 'request_id') OR NOT EXISTS (
        SELECT 1 FROM hitl_notification_channels WHERE channel = 'slack_app' AND enabled
    ) THEN
        RETURN NULL;
    END IF;
    req_id := (NEW.data ->> 'request_id')::uuid;
    IF NOT EXISTS (SELECT 1 FROM hitl_notifications
                   WHERE request_id = req_id AND channel = 'slack' AND recipient = 'slack') THEN
        RETURN NULL;  -- never posted to Slack: nothing to update
    END IF;
    INSERT INTO hitl_notifications (channel, recipient, event_id, event_type, request_id)
    VALUES ('slack', 'slack:update', NEW.id, NEW.type, req_id)
    ON CONFLICT (event_id, channel, recipient) DO NOTHING;
    PERFORM pg_notify('hitl_notifications', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER hitl_events_slack_updates AFTER INSERT ON hitl_events
    FOR EACH ROW
    WHEN (NEW.type IN ('request.responded', 'request.expired', 'request.cancelled',
                       'request.escalated', 'request.assigned'))
    EXECUTE FUNCTION hitl_queue_slack_updates();
