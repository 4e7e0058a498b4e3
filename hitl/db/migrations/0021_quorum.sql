-- Quorum (hitl/quorum.py): a request that needs several people's votes. `approval` holds its
-- terms (`{"min": 2, "veto": "any_reject"}`; NULL: one answer decides, as before). Each vote is
-- a row, one per person (the primary key): who, when, what, and through which door. The vote
-- that meets the threshold answers the request through the usual conditional update, under the
-- request's row lock, so two last votes at once resolve it once.
ALTER TABLE hitl_requests ADD COLUMN approval jsonb;

CREATE TABLE hitl_request_votes (
    request_id     uuid NOT NULL REFERENCES hitl_requests (id) ON DELETE CASCADE,
    voter_subject  text NOT NULL,
    voter          text NOT NULL,
    vote           jsonb NOT NULL,
    decision       jsonb,
    via            text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, voter_subject)
);
