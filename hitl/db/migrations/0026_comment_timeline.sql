-- Comments in the timeline (hitl/timeline.py): a thread's timeline interleaves its requests
-- and the comments on them by time, a page at a time, so the comments of a thread are read
-- newest first from an index of their own (as its requests are from hitl_requests_thread):
-- a page costs the same with ten comments or ten thousand. The thread is the request's, kept
-- with the comment (a request never changes thread; an external request has none).
ALTER TABLE hitl_request_comments ADD COLUMN thread_id text;

UPDATE hitl_request_comments c SET thread_id = r.thread_id
FROM hitl_requests r WHERE r.id = c.request_id AND r.thread_id IS NOT NULL;

CREATE INDEX hitl_request_comments_thread ON hitl_request_comments (thread_id, created_at, id)
    WHERE thread_id IS NOT NULL;

-- One request's comments in the same order (an external request's timeline, the API's list).
DROP INDEX hitl_request_comments_request;
CREATE INDEX hitl_request_comments_request ON hitl_request_comments (request_id, created_at, id);
