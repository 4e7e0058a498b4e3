-- A thread's version: one more with every change of its row, in the order the changes commit
-- (the row lock orders them). updated_at is the changing transaction's start time, which can go
-- backwards: an answer that started first and waited for a run's record commits after it. A
-- waiter (hitl/thread_watch.py) takes the thread as a run recorded it only if it is no older
-- than what it read, by version.
ALTER TABLE hitl_threads ADD COLUMN version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION hitl_bump_thread_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER hitl_thread_version BEFORE UPDATE ON hitl_threads
    FOR EACH ROW EXECUTE FUNCTION hitl_bump_thread_version();
