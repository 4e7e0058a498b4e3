-- Deadlines (hitl/deadlines.py: the rules; hitl/timers.py: firing them). Every request has a
-- deadline, a policy for when it passes (on_timeout) and reminders before it. The timer is a few
-- columns of the request itself, found through one partial index on `timer_at`: a request leaves
-- that index the moment it stops being pending, so answering one costs no timer bookkeeping and
-- no timer can outlive its request.

-- One deadline concept: external requests' `expires_at` becomes everyone's `deadline_at` (the API
-- still shows `expires_at`, the same value).
ALTER TABLE hitl_requests RENAME COLUMN expires_at TO deadline_at;
DROP INDEX hitl_requests_expiring;

ALTER TABLE hitl_requests
    -- What happens at the deadline: {"action": "default" | "escalate" | "expire", ...}.
    ADD COLUMN on_timeout jsonb,
    -- Reminders as fractions of the time from window_started_at to deadline_at, ascending.
    ADD COLUMN reminders float8[] NOT NULL DEFAULT '{}',
    -- The current deadline window began here (creation, or the last escalation).
    ADD COLUMN window_started_at timestamptz,
    -- Reminders of the current window already sent (or skipped: missed while no worker ran).
    ADD COLUMN reminded integer NOT NULL DEFAULT 0,
    ADD COLUMN escalations integer NOT NULL DEFAULT 0,
    -- An answer the deadline gave (the runner applies it like a person's): the policy's default
    -- value, or the expiry marker with the thread to fail or to resume.
    ADD COLUMN deadline_action text
        CHECK (deadline_action IN ('default', 'expire_fail', 'expire_resume')),
    -- When the timer fires next: the next reminder, else the deadline.
    ADD COLUMN timer_at timestamptz;

-- The next timer of a request: its next reminder, or its deadline once reminders are done.
CREATE FUNCTION hitl_timer_at(started timestamptz, deadline timestamptz, reminders float8[],
                              reminded integer) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN reminded < coalesce(cardinality(reminders), 0)
                THEN started + (deadline - started) * reminders[reminded + 1]
                ELSE deadline END
$$;

-- Requests already waiting keep the deadline they had (external ones) and expire at it;
-- pending interrupts from before this migration have none.
UPDATE hitl_requests
SET on_timeout = '{"action": "expire", "thread": "fail"}', window_started_at = created_at,
    timer_at = deadline_at
WHERE state = 'pending' AND deadline_at IS NOT NULL;

CREATE INDEX hitl_requests_timers ON hitl_requests (timer_at) WHERE state = 'pending';
