-- Retention (hitl/retention.py): each pruning batch reads one index range, oldest first.

-- Settled requests by age (pending ones are never pruned, so they are not indexed here).
CREATE INDEX hitl_requests_settled ON hitl_requests (updated_at) WHERE state <> 'pending';
-- Deleting a thread deletes its runs, which sets hitl_requests.run_id to NULL: without this
-- index every deleted run would scan hitl_requests.
CREATE INDEX hitl_requests_run ON hitl_requests (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX hitl_events_relayed ON hitl_events (created_at) WHERE relayed_at IS NOT NULL;
CREATE INDEX hitl_webhook_deliveries_settled ON hitl_webhook_deliveries (updated_at)
    WHERE state IN ('succeeded', 'failed');
CREATE INDEX hitl_audit_at ON hitl_audit (at);
