"""What happens after an attempt: done, retry later (when), or give up. Pure functions.

The schedule (``HITL_WEBHOOK_RETRY_SCHEDULE``) lists the delay before each attempt, in seconds,
in the spirit of Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. Each delay gets
+-20% jitter so that deliveries failing together do not retry together. Deliveries are created
due at once, so the first entry is in practice the delay of the first attempt: 0.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Literal

JITTER = 0.2
MAX_RETRY_AFTER = 86400.0

State = Literal["succeeded", "pending", "failed"]


@dataclass(frozen=True)
class Next:
    state: State
    delay: float = 0.0
    disable: str | None = None  # the reason, when the endpoint is to be disabled


def jittered(delay: float, rng: random.Random | None = None) -> float:
    return delay * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            at = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = at.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def after_attempt(
    schedule: list[float],
    attempts: int,
    *,
    succeeded: bool,
    status: int | None,
    retry_after_seconds: float | None = None,
    manual: bool = False,
    rng: random.Random | None = None,
) -> Next:
    """The delivery's fate once its ``attempts``-th attempt (counting this one) is over."""
    if succeeded:
        return Next("succeeded")
    if status == 410:
        return Next("failed", disable="the endpoint answered 410 Gone")
    if manual or attempts >= len(schedule):
        return Next("failed")
    delay = jittered(schedule[attempts], rng)
    if status in (429, 503) and retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    return Next("pending", delay)
