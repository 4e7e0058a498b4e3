"""A thread's runs followed one after another, as a thread's streams send them (the v3 event
stream, `thread_streams`, and the join stream, `thread_join`): each run in the order it was
asked for, then the next whenever it comes; and each run's chunks from its Redis stream
(`hitl.run_streams`) until its end.

A run read after it ended is read without waiting (its stream holds all it will hold, or
expired); a run still going is read as its chunks come, with a keep-alive due whenever
nothing came for a while. A run whose stream shows no end (expired, or lost with Redis) ends
when its record says it ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from hitl import run_streams, runs
from hitl._aio import wait_event
from hitl.agent_server import runs as agent_runs
from hitl.agent_server import wire
from hitl.models import Run
from hitl.service import Service
from hitl.thread_watch import ThreadWatch

# How long a read waits for a chunk before a keep-alive is due; while the thread has no next
# run, it is looked for (and a keep-alive is due) every RECHECK_SECONDS.
KEEPALIVE_SECONDS = 5.0
RECHECK_SECONDS = 1.0


async def runs_from(
    service: Service, thread_id: str, watch: ThreadWatch, first_id: int
) -> AsyncIterator[Run | None]:
    """The thread's runs from id ``first_id`` on, each once it is asked for (None: none yet,
    a keep-alive is due). Endless: the caller stops reading when its client leaves. The
    caller reads a run to its end before asking for the next."""
    next_id = first_id
    while True:
        watch.changed.clear()
        async with service.pool.connection() as conn:
            run = await runs.run_from(conn, thread_id, next_id)
        if run is None:  # none yet: wait for the thread to change (a run queued)
            if not await wait_event(watch.changed, RECHECK_SECONDS):
                yield None
            continue
        yield run
        next_id = run.id + 1


async def chunks_of(
    service: Service, run: Run, asked_only: bool = True
) -> AsyncIterator[run_streams.Chunk | None]:
    """The run's chunks up to (not with) its end (None: nothing for a while, a keep-alive is
    due): those of the modes its caller asked for, or (``asked_only=False``) all it recorded
    (a background run records more, for its joiners). A run not asked to be streamed has
    none: this waits for its end. With ``asked_only=False`` (a person's view), a run streamed
    because someone watched its thread (``progress``, migration 0027) is read too."""
    streamed = run.options.get("stream") or (not asked_only and run.options.get("progress"))
    if not streamed:
        while not await has_ended(service, run, wait=KEEPALIVE_SECONDS):
            yield None
        return
    public_id, after = str(run.public_id), "0"
    wanted = run_streams.asked_events(run.options["stream"]) if asked_only else None
    ended_before = run.status in wire.ENDED
    while True:
        block = None if ended_before else int(KEEPALIVE_SECONDS * 1000)
        chunks = await service.streams.read(public_id, after, block)
        if not chunks:
            if ended_before or await has_ended(service, run):
                return  # ended while its stream shows nothing more (expired, or lost)
            yield None
            continue
        for chunk in chunks:
            if chunk.event == run_streams.END:
                return
            after = chunk.id
            if wanted is None or chunk.event.split("|")[0] in wanted or chunk.event == "error":
                yield chunk


async def has_ended(service: Service, run: Run, wait: float = 0.0) -> bool:
    """Whether the run ended (or was rolled back and forgotten), waiting up to ``wait``."""
    if wait:
        found = await agent_runs.ended(service, run, timeout=wait)
        return found is None or found.status in wire.ENDED
    async with service.pool.connection() as conn:
        try:
            now = await runs.find(conn, run.thread_id, str(run.public_id))
        except runs.RunNotFound:
            return True
    return now.status in wire.ENDED
