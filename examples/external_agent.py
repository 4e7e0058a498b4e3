"""An external agent: its own process, its own LangGraph graph and checkpointer, asking a person
through the HITL service and resumed by the service's signed webhook.

    # 0. a key for the agent (it sends HITL_API_KEY as its bearer token)
    export HITL_API_KEY=$(hitl apikey create --name agent \\
                          --scopes requests:write,webhooks:admin | tail -1)
    # 1. register the agent's webhook URL once; keep the secret it prints
    curl -s localhost:8000/api/v1/webhooks -H "Authorization: Bearer $HITL_API_KEY" \\
         -H 'content-type: application/json' \\
         -d '{"url": "http://127.0.0.1:8100/webhooks", "events": []}'
    # 2. run a workflow until it needs a person: it creates the request and exits
    python examples/external_agent.py start --workflow-id wf-1 --checkpoints postgresql://...
    # 3. serve the webhook receiver; answering the request in the inbox resumes the workflow
    python examples/external_agent.py serve --port 8100 --secret whsec_... --checkpoints ...

The endpoint belongs to the key that registered it: only that key may name it as the
``callback_webhook`` of its requests (or one an admin shared it with).

The graph: ``draft`` proposes something, ``ask_human`` creates the request (with an
Idempotency-Key made from the thread id, so a retried node cannot ask twice) and records its id
in ``--created`` (a SQLite file both commands share), ``wait`` stops at ``interrupt()`` until
the callback's ``Command(resume=response)``, ``finish`` appends the outcome to
``<results>/<workflow_id>.jsonl``. The receiver resumes a workflow only for a callback about a
request recorded there, for that workflow: a signed answer to anything else gets 403.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from hitl.sdk import HITLClient
from hitl.sdk.created import SQLiteCreatedRequests
from hitl.sdk.receiver import SQLiteDedupeStore, WebhookMessage, WebhookReceiver
from hitl.sdk.resume import RequestEnded, resume_from_webhook

DEFAULT_CREATED = "agent-requests.db"


class State(TypedDict, total=False):
    task: str
    proposal: str
    request_id: str
    decision: Any


def draft(state: State) -> State:
    return {"proposal": f"deploy {state.get('task', 'the change')} to production"}


async def ask_human(state: State, config: RunnableConfig) -> State:
    conf = config["configurable"]
    created = SQLiteCreatedRequests(conf.get("created", DEFAULT_CREATED))
    # The key comes from HITL_API_KEY; the request's id goes into `created` before this returns.
    async with HITLClient(conf["hitl_url"], created=created) as hitl:
        request = await hitl.create_request(
            conf["thread_id"],
            conf["callback"],
            {"proposal": state["proposal"]},
            title="Approve the deployment?",
            response_schema={
                "type": "object",
                "properties": {
                    "decision": {"enum": ["approve", "reject"]},
                    "comment": {"type": "string"},
                },
                "required": ["decision"],
            },
            idempotency_key=f"{conf['thread_id']}:ask_human",
        )
    return {"request_id": request["id"]}


def wait(state: State) -> State:
    return {"decision": interrupt({"request_id": state["request_id"]})}


def finish(state: State, config: RunnableConfig) -> State:
    results = Path(config["configurable"].get("results", "."))
    with open(results / f"{config['configurable']['thread_id']}.jsonl", "a") as f:
        f.write(json.dumps({"proposal": state["proposal"], "decision": state["decision"]}) + "\n")
    return {}


def build() -> StateGraph[Any]:
    g = StateGraph(State)
    g.add_node("draft", draft)
    g.add_node("ask_human", ask_human)
    g.add_node("wait", wait)
    g.add_node("finish", finish)
    g.add_edge(START, "draft")
    g.add_edge("draft", "ask_human")
    g.add_edge("ask_human", "wait")
    g.add_edge("wait", "finish")
    g.add_edge("finish", END)
    return g


async def start(args: argparse.Namespace) -> None:
    async with AsyncPostgresSaver.from_conn_string(args.checkpoints) as saver:
        await saver.setup()
        graph = build().compile(checkpointer=saver)
        config: Any = {
            "configurable": {
                "thread_id": args.workflow_id,
                "hitl_url": args.hitl,
                "callback": args.callback,
                "created": args.created,
            }
        }
        result = await graph.ainvoke({"task": args.task}, config)
    print(json.dumps({"request_id": result["request_id"], "waiting": True}), flush=True)


async def serve(args: argparse.Namespace) -> None:
    import uvicorn
    from fastapi import FastAPI

    async with AsyncPostgresSaver.from_conn_string(args.checkpoints) as saver:
        await saver.setup()
        graph = build().compile(checkpointer=saver)

        async def handler(payload: Any, message: WebhookMessage) -> None:
            config = {"configurable": {"results": args.results}}
            ended = await resume_from_webhook(graph, payload, config=config)
            if isinstance(ended, RequestEnded):  # expired or withdrawn: no answer will come
                print(json.dumps({"workflow_id": ended.workflow_id, "ended": ended.state}))

        app = FastAPI()
        receiver = WebhookReceiver(
            args.secret, handler, store=args.store, requests=SQLiteCreatedRequests(args.created)
        )
        app.add_route("/webhooks", receiver, methods=["POST"])  # an ASGI app as a route

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
        await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("start", help="run a workflow until it asks a person")
    start_cmd.add_argument("--hitl", default="http://127.0.0.1:8000")
    start_cmd.add_argument("--callback", default="http://127.0.0.1:8100/webhooks")
    start_cmd.add_argument("--workflow-id", required=True)
    start_cmd.add_argument("--task", default="release 1.2")
    serve_cmd = commands.add_parser("serve", help="receive callbacks and resume workflows")
    serve_cmd.add_argument("--port", type=int, default=8100)
    serve_cmd.add_argument("--secret", required=True, action="append", help="repeat to rotate")
    serve_cmd.add_argument("--dedupe", default="agent-webhooks.db")
    serve_cmd.add_argument("--results", default=".")
    for cmd in (start_cmd, serve_cmd):
        cmd.add_argument("--checkpoints", required=True, help="Postgres URL for the checkpoints")
        cmd.add_argument(
            "--created", default=DEFAULT_CREATED, help="SQLite file of the requests it created"
        )
    args = parser.parse_args(argv)
    if args.command == "start":
        asyncio.run(start(args))
    else:
        args.store = SQLiteDedupeStore(args.dedupe)
        args.results = str(Path(args.results).resolve())
        asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
