-- Claims (hitl/claims.py): a person says "I am on it". Until `claim_expires_at`, others (not
-- admins) may not answer the request. The inbox's "Claimed by me" reads the pending requests
-- claimed by a name through the partial index.
ALTER TABLE hitl_requests
    ADD COLUMN claimed_by text,
    ADD COLUMN claimed_by_subject text,
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN claim_expires_at timestamptz;

CREATE INDEX IF NOT EXISTS hitl_requests_claimed ON hitl_requests (claimed_by, created_at DESC, id DESC)
    WHERE state = 'pending' AND claimed_by IS NOT NULL;
