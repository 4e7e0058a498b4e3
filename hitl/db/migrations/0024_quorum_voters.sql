-- Quorum voters (hitl/quorum.py): a vote counts for one person, the voter or the person they
-- stand in for (delegation), and each person is counted once. `counts_for` is that person's
-- identity (`user:<id>`, or the voter's own subject); `responded_for` their username when the
-- voter stands in for them. One row per person counted, so a delegate may (with
-- `distinct: false`) vote for themselves and for whom they stand in for.
ALTER TABLE hitl_request_votes ADD COLUMN counts_for text, ADD COLUMN responded_for text;
UPDATE hitl_request_votes SET counts_for = voter_subject;
ALTER TABLE hitl_request_votes ALTER COLUMN counts_for SET NOT NULL;
ALTER TABLE hitl_request_votes DROP CONSTRAINT hitl_request_votes_pkey;
ALTER TABLE hitl_request_votes ADD PRIMARY KEY (request_id, counts_for);
