-- A thread's open requests (pending, or answered and not yet applied), found without reading its
-- history: every answer and every run's record reads them (RECORD_RUN locks them first, an answer
-- through /threads/{id}/resume looks its interrupts up among them, a thread's detail lists the
-- pending ones). The unique index on (thread_id, interrupt_id) also finds them, but by reading
-- every request the thread ever had: a thread of a thousand answers read a thousand rows per
-- answer. This one holds only open rows, a handful per thread however long it lived; (thread_id,
-- id) is the order RECORD_RUN locks them in.
--
-- And a thread's history newest first, one page at a time (the thread page, the request page's
-- timeline), instead of every request of the thread sorted.
--
-- Plain CREATE INDEX, inside the migration's transaction like every migration (CONCURRENTLY cannot
-- run in one), so the index and its version row commit together; it blocks writes to
-- hitl_requests while it builds, a moment for most installations. With a very large table, build
-- both first with CREATE INDEX CONCURRENTLY under these names: IF NOT EXISTS then skips them.
CREATE INDEX IF NOT EXISTS hitl_requests_open ON hitl_requests (thread_id, id)
    WHERE state IN ('pending', 'responded');
CREATE INDEX IF NOT EXISTS hitl_requests_thread ON hitl_requests (thread_id, created_at DESC, id DESC);
