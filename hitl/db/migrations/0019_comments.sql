-- Comments (hitl/comments.py): the discussion on a request, kept with it (and, like every
-- change, in the audit log). A comment is never edited or deleted: it is part of the record
-- of how the decision was reached. `mentions`: the users its @names named (that exist).
CREATE TABLE hitl_request_comments (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES hitl_requests (id) ON DELETE CASCADE,
    author          text NOT NULL,
    author_subject  text NOT NULL,
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    mentions        text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_request_comments_request ON hitl_request_comments (request_id, id);

-- A mention notifies the people it names through the notification channels: the trigger of
-- 0006 queues 'request.mentioned' too (its event names them as `assignees`, so the email goes
-- to them alone).
DROP TRIGGER hitl_events_notifications ON hitl_events;
CREATE TRIGGER hitl_events_notifications AFTER INSERT ON hitl_events
    FOR EACH ROW
    WHEN (NEW.type IN ('request.created', 'request.escalated', 'request.reminded',
                       'request.mentioned'))
    EXECUTE FUNCTION hitl_queue_notifications();
