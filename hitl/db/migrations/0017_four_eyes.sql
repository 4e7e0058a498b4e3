-- Four-eyes (hitl/four_eyes.py): who asked for a request, and whether they may answer it.
--
-- A thread records who started it (the user or API key: `created_by` is the name people read,
-- `created_by_subject` the stable identity, as an external request's since 0009); each request
-- records who asked for it: the thread's starter, or an external request's creator
-- (`requested_by`, `requested_by_subject`), and the person a graph or agent says it acts for
-- (`on_behalf_of`, a username). With `forbid_self_approval`, none of them may answer it.
ALTER TABLE hitl_threads
    ADD COLUMN created_by text,
    ADD COLUMN created_by_subject text;

ALTER TABLE hitl_requests
    ADD COLUMN requested_by text,
    ADD COLUMN requested_by_subject text,
    ADD COLUMN on_behalf_of text,
    ADD COLUMN forbid_self_approval boolean NOT NULL DEFAULT false;

UPDATE hitl_requests SET requested_by = created_by, requested_by_subject = created_by_subject
WHERE kind = 'external';
