-- Priority (hitl/priority.py): 0 low, 1 normal, 2 high, 3 urgent; the inbox sorts by it and by
-- deadline. Both sorts read the pending requests through their own index, newest first within
-- a priority, so a page costs the same with a thousand pending requests or a hundred thousand.
ALTER TABLE hitl_requests
    ADD COLUMN priority smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3);

CREATE INDEX IF NOT EXISTS hitl_requests_pending_priority
    ON hitl_requests (priority DESC, created_at DESC, id DESC) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS hitl_requests_pending_deadline
    ON hitl_requests (deadline_at, id) WHERE state = 'pending';
