"""A deliberate refusal to start says one line, not a traceback through the server.

The service starts in the app's lifespan (`hitl.api.app`), so a refusal raised there (no admin
while reachable from other machines, a graph that cannot be loaded) reaches the operator the
way Starlette reports any lifespan failure: the whole traceback, handed to the ASGI server to
log, and the reason at its bottom. For an `errors.CannotStart` this middleware prints the
refusal's one line on stderr instead and fails the start-up without a message, so uvicorn
exits non-zero saying only that start-up failed. Any other exception keeps its traceback.
"""

from __future__ import annotations

import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl import errors


class StartupRefusals:
    """Pure ASGI middleware; it sees only the ``lifespan`` scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        # Starlette sends "startup.failed" (with the traceback) and then re-raises: the message
        # waits here until the exception says whether the failure was a refusal.
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except errors.CannotStart as exc:
            if not held:
                raise
            print(exc.line(), file=sys.stderr, flush=True)
            await send({"type": "lifespan.startup.failed", "message": ""})
        except BaseException:
            for message in held:
                await send(message)
            raise
        else:
            for message in held:
                await send(message)
