"""Every Redis key, stream and consumer-group name of the event bus and its agents, in one place.

All of them start with the bus prefix (``HITL_BUS_PREFIX``, ``hitl:`` by default), so several
deployments (or test sessions) can share one Redis by giving each its own prefix. With the
default prefix the event stream is ``hitl:events``, the stream the outbox relay always used.
"""

from __future__ import annotations

DEFAULT_PREFIX = "hitl:"


def events_stream(prefix: str) -> str:
    """The one stream every event goes to: lifecycle events from the outbox and agents' own."""
    return prefix + "events"


def dead_letter_stream(prefix: str) -> str:
    """Where an event goes once it has been delivered to a group more than N times."""
    return prefix + "events:dead-letter"


def agent_group(name: str) -> str:
    """The consumer group of an agent: every process running the agent shares it."""
    return "hitl:agent:" + name


def handled_key(prefix: str, agent: str, event_id: str) -> str:
    """Set (with a time to live) once ``agent`` has handled the event ``event_id``."""
    return f"{prefix}agent:{agent}:handled:{event_id}"


def created_requests_prefix(prefix: str, agent: str) -> str:
    """Before a request id: the key recording that ``agent`` created that external request
    (holding its workflow id), which the agent's webhook receiver checks callbacks against."""
    return f"{prefix}agent:{agent}:created:"


def run_stream(prefix: str, run_id: str) -> str:
    """The chunks of one streamed run (``run_id``: its public id), for its SSE readers."""
    return f"{prefix}run:{run_id}"
