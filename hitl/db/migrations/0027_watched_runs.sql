-- A thread someone watches (hitl/ui/progress.py: its page is open, or a person just answered
-- one of its requests in the web UI) has its new runs streamed for that person: a run created
-- without options (a thread started from the inbox or /api/v1, the resume an answer queues, the
-- run that applies answers that came during another) while a watch lasts records its steps and
-- custom notes on Redis (`progress`), so the thread page shows them as they come. Runs nobody
-- watches pay nothing; Agent Server clients see no change (they read `stream`, which their
-- own runs set; a `progress` run is to them a run that was not streamed).
CREATE TABLE hitl_thread_watchers (
    thread_id  text PRIMARY KEY REFERENCES hitl_threads (thread_id) ON DELETE CASCADE,
    until      timestamptz NOT NULL
);

CREATE FUNCTION hitl_watched_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.options = '{}'::jsonb AND EXISTS (
        SELECT 1 FROM hitl_thread_watchers w
        WHERE w.thread_id = NEW.thread_id AND w.until > now()
    ) THEN
        NEW.options := '{"progress": {"modes": ["updates", "custom"], "subgraphs": false}}';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER hitl_watched_run BEFORE INSERT ON hitl_runs
    FOR EACH ROW EXECUTE FUNCTION hitl_watched_run();
