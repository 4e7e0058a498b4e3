-- The Slack copies of a request show who claimed it and until when, and a quorum request's
-- votes so far (hitl/notifications/slack_blocks.py): a claim, its release and a vote bring
-- every copy up to date too, through the 'slack:update' notification of 0016. A claim that
-- times out writes no event: the copies say until when it binds.
DROP TRIGGER hitl_events_slack_updates ON hitl_events;
CREATE TRIGGER hitl_events_slack_updates AFTER INSERT ON hitl_events
    FOR EACH ROW
    WHEN (NEW.type IN ('request.responded', 'request.expired', 'request.cancelled',
                       'request.escalated', 'request.assigned', 'request.claimed',
                       'request.unclaimed', 'request.voted'))
    EXECUTE FUNCTION hitl_queue_slack_updates();
