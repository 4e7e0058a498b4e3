-- One-click answers from email (hitl/notifications/tokens.py): each button of a notification
-- email is a link with a random token, stored here as its SHA-256 only. A token is bound to
-- one request, one choice and one person, expires at the request's deadline, and answers once.
CREATE TABLE hitl_answer_tokens (
    token_hash       bytea PRIMARY KEY,
    request_id       uuid NOT NULL REFERENCES hitl_requests (id) ON DELETE CASCADE,
    user_id          bigint NOT NULL REFERENCES hitl_users (id) ON DELETE CASCADE,
    -- The answer the button sends, and how the button reads.
    choice           jsonb NOT NULL,
    label            text NOT NULL,
    notification_id  uuid,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hitl_answer_tokens_request ON hitl_answer_tokens (request_id);
CREATE INDEX hitl_answer_tokens_expires ON hitl_answer_tokens (expires_at);
