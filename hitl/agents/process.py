"""An agent as a process: Redis (configured or the embedded one), the bus, the REST client."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import sys

from redis.asyncio import Redis

from hitl import engines
from hitl.agents.base import Agent
from hitl.bus import Bus
from hitl.config import Settings
from hitl.sdk import HITLClient

log = logging.getLogger("hitl.agents")


def load_agent(spec: str) -> type[Agent]:
    """The `Agent` subclass named ``module:Class``, imported from the installed packages or
    else from the current folder (as uvicorn and gunicorn find an app): a project's own agent
    module, or the repository's examples, run with ``hitl agent`` without being installed."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"give the agent as module:Class, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # after the installed packages: the folder shadows none
    found = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(found, type) and issubclass(found, Agent)):
        raise ValueError(f"{spec} is not an Agent subclass")
    return found


async def run_agent(spec: str | type[Agent], settings: Settings, stop: asyncio.Event) -> None:
    """Run the agent until ``stop`` is set. Without ``HITL_REDIS_URL`` it uses the embedded
    Redis of ``HITL_DATA_DIR``, the one a ``hitl serve`` in the same folder runs."""
    agent_class = load_agent(spec) if isinstance(spec, str) else spec
    async with contextlib.AsyncExitStack() as stack:
        _, redis_url = await engines.urls(
            settings.model_copy(update={"database_url": "unused"}), stack, create=False
        )
        redis = Redis.from_url(redis_url)
        stack.push_async_callback(redis.aclose)
        hitl = HITLClient(
            settings.service_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        )
        stack.push_async_callback(hitl.aclose)
        bus = Bus.from_settings(redis, settings, source=f"hitl/agents/{agent_class.name}")
        agent = agent_class(bus, hitl)
        print(f"HITL agent {agent.name} on {', '.join(agent.subscribes)}", flush=True)
        await agent.run(stop)
    log.info("agent %s stopped", agent_class.name)
