-- Failed sign-ins, counted per key (`user:<username>` or `address:<client address>`) in a window
-- that starts at the key's first failure (hitl/auth/throttle.py). Counted in Postgres, so the
-- limit holds across replicas; one row per key, not one per attempt, so guessing leaves no
-- year-long trail of rows (the audit log gets one entry per account and window, and one when a
-- key is throttled). Rows whose window ended are deleted by retention.
CREATE TABLE hitl_signin_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  timestamptz NOT NULL
);
CREATE INDEX hitl_signin_failures_window ON hitl_signin_failures (window_start);
