"""Recorded side effects (``hitl_effects``): start, finish, read, and the step's checkpoint."""

from __future__ import annotations

# Claim the effect for a first call: a row 'started' unless one exists (then nothing returns,
# and READ_EFFECT says what an earlier run of the step left). In `once_in_transaction` this
# insert is in the effect's own transaction: a second run waits on it, then sees it 'done'.
START_EFFECT = """
INSERT INTO hitl_effects (key, thread_id, step, name, state)
VALUES (%(key)s, %(thread_id)s, %(step)s, %(name)s, 'started')
ON CONFLICT (key) DO NOTHING
RETURNING key
"""

# What an earlier run of the step recorded: its state ('started' or 'done') and result.
READ_EFFECT = "SELECT state, result, attempts FROM hitl_effects WHERE key = %s"

# A caller that opted in calls again after an unfinished attempt: count the attempt.
RETRY_EFFECT = """
UPDATE hitl_effects SET attempts = attempts + 1, started_at = now()
WHERE key = %s AND state = 'started'
RETURNING attempts
"""

# The effect's result, recorded once it is known.
FINISH_EFFECT = """
UPDATE hitl_effects SET state = 'done', result = %(result)s, finished_at = now()
WHERE key = %(key)s
"""

# Whether the checkpoint a task started from is committed (LangGraph's ``checkpoints``): only
# then does a re-run of the step start from it, and derive the same task id and effect key.
CHECKPOINT_SAVED = """
SELECT EXISTS (
    SELECT 1 FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = %(checkpoint_ns)s
      AND checkpoint_id = %(checkpoint_id)s
) AS saved
"""
