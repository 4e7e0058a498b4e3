"""A caller of `ask()` run as its own process (tests/e2e/test_ask.py kills it and runs it
again): asks whether to deploy, with an idempotency key, and prints the answer as JSON, or the
name of the exception that ended the question.

    HITL_API_KEY=... python -m tests.support.asker URL IDEMPOTENCY_KEY [--sync] [--timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from pydantic import BaseModel

from hitl.sdk import HITLClient, RequestClosed, SyncHITLClient


class Approval(BaseModel):
    approved: bool
    comment: str = ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("idempotency_key")
    parser.add_argument("--sync", action="store_true")
    parser.add_argument("--timeout", type=float, default=None)
    args = parser.parse_args()
    terms = {
        "response_model": Approval,
        "groups": [],
        "timeout_seconds": args.timeout,
        "on_timeout": {"action": "expire"} if args.timeout else None,
        "idempotency_key": args.idempotency_key,
    }
    key = os.environ["HITL_API_KEY"]
    try:
        if args.sync:
            with SyncHITLClient(args.url, api_key=key) as hitl:
                answer = hitl.ask("Deploy v2 to prod?", **terms)
        else:

            async def asking() -> Approval:
                async with HITLClient(args.url, api_key=key) as hitl:
                    found: Approval = await hitl.ask("Deploy v2 to prod?", **terms)
                    return found

            answer = asyncio.run(asking())
    except RequestClosed as exc:
        print(json.dumps({"error": type(exc).__name__, "state": exc.request["state"]}))
        return
    assert isinstance(answer, Approval)
    print(json.dumps({"answer": answer.model_dump()}))


if __name__ == "__main__":
    main()
