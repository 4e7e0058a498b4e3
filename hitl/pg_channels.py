"""Every Postgres NOTIFY channel the service uses, in one place (Redis names: `hitl.bus_names`)."""

from __future__ import annotations

#: Postgres NOTIFY channels (wake-ups only: the tables are the truth, a lost one costs a poll).
RUNS_CHANNEL = "hitl_runs"
THREADS_CHANNEL = "hitl_threads"
EVENTS_CHANNEL = "hitl_events"
#: A request was answered, expired or withdrawn; the payload is its id (long polls on it).
REQUESTS_CHANNEL = "hitl_requests"
#: A run was asked to be cancelled; the payload is its id (CANCEL_RUN names it literally).
CANCELS_CHANNEL = "hitl_run_cancels"

# The statements in hitl/db/sql/ name these channels literally (pg_notify('hitl_runs', ...))
# so that each state change and its wake-up stay one statement; keep both in step.

#: NOTIFY channel that wakes the webhook delivery workers (the 0002 migration's fan-out trigger
#: and REDELIVER name it literally too).
WEBHOOKS_CHANNEL = "hitl_webhooks"

#: NOTIFY channel telling every process that an API key was revoked (REVOKE_KEY in
#: hitl/db/sql/accounts.py names it literally): their key caches empty at once.
KEYS_CHANNEL = "hitl_keys"

#: NOTIFY channel that wakes the notification senders (the 0006 migration's trigger names it).
NOTIFICATIONS_CHANNEL = "hitl_notifications"
