-- Identity (hitl/auth/): people with roles and groups, their sessions, API keys for agents and
-- services; and who a request is assigned to.

CREATE TABLE hitl_users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    display_name   text NOT NULL DEFAULT '',
    email          text,
    password_hash  text,
    role           text NOT NULL DEFAULT 'responder'
                   CHECK (role IN ('admin', 'responder', 'viewer')),
    -- Per-user notification preferences, e.g. {"email": false}.
    preferences    jsonb NOT NULL DEFAULT '{}'::jsonb,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hitl_groups (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hitl_group_members (
    group_name  text NOT NULL REFERENCES hitl_groups (name) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES hitl_users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX hitl_group_members_user ON hitl_group_members (user_id);

-- A browser session: the cookie holds a random token, the table its SHA-256.
CREATE TABLE hitl_sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES hitl_users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX hitl_sessions_user ON hitl_sessions (user_id);
CREATE INDEX hitl_sessions_expires ON hitl_sessions (expires_at);

-- API keys: shown once; stored as the SHA-256 of the whole key (keys are long random strings,
-- so a fast hash is enough), with the recognisable prefix kept to tell keys apart.
CREATE TABLE hitl_api_keys (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    prefix        text NOT NULL UNIQUE,
    key_hash      bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Assignment: who may answer. Both empty: any responder.
ALTER TABLE hitl_requests
    ADD COLUMN assignees text[] NOT NULL DEFAULT '{}',
    ADD COLUMN assigned_groups text[] NOT NULL DEFAULT '{}';
CREATE INDEX hitl_requests_assignees ON hitl_requests USING gin (assignees)
    WHERE state = 'pending';
CREATE INDEX hitl_requests_assigned_groups ON hitl_requests USING gin (assigned_groups)
    WHERE state = 'pending';

-- The audit log is read by actor and by time.
CREATE INDEX hitl_audit_actor ON hitl_audit (actor, id);
