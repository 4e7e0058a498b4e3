"""The chaos and soak runs' load: threads and external requests started through the API, and
simulated people answering them (`People`); what they did (`Load`)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

import httpx

from benchmarks.chaos_system import DEADLINE_SECONDS
from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF

# --- the load ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    request_id: str
    response: dict[str, Any]
    by: str  # the key's name, as responded_by shows it
    at: float  # when the 200 came (time.time())


@dataclasses.dataclass
class Load:
    """What the load generator did: the threads and external requests it started and every
    answer it saw accepted."""

    threads: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> graph
    externals: dict[str, bool] = dataclasses.field(default_factory=dict)  # request id -> deadline
    answers: dict[str, Answer] = dataclasses.field(default_factory=dict)
    ambiguous: set[str] = dataclasses.field(default_factory=set)  # 409 after our own retry
    double_answered: int = 0
    double_both_won: int = 0
    retries: int = 0
    scheduled: set[str] = dataclasses.field(default_factory=set)


class People:
    """Clients for the simulated people: two API keys, alice and bob; with several API
    replicas, each call goes to one of them at random, as through a load balancer."""

    def __init__(
        self, urls: list[str], keys: dict[str, str], load: Load, rng: random.Random
    ) -> None:
        self.clients = {
            name: [
                httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
                for url in urls
            ]
            for name, key in keys.items()
        }
        self.load = load
        self.rng = rng
        self.balance = random.Random()  # not the run's seeded one: the faults follow the seed

    async def aclose(self) -> None:
        for clients in self.clients.values():
            for client in clients:
                await client.aclose()

    async def call(self, who: str, method: str, path: str, **kw: Any) -> tuple[httpx.Response, int]:
        """The response, retrying transport errors and 5xx (the API or Postgres restarting);
        with how many tries it took."""
        tries = 0
        deadline = time.monotonic() + 300
        while True:
            tries += 1
            try:
                r = await self.balance.choice(self.clients[who]).request(method, path, **kw)
                if r.status_code < 500:
                    return r, tries
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path} failed for 300 s")
            self.load.retries += 1
            await asyncio.sleep(0.3 + self.rng.random() * 0.5)

    async def prepare(self, hook_url: str) -> None:
        """The receiver's endpoint, and carol: an admin with an address, so every request
        (assigned to nobody) is emailed to her."""
        r, _ = await self.call(
            "alice", "POST", "/api/v1/webhooks", json={"url": hook_url, "events": []}
        )
        assert r.status_code == 201, r.text
        body = {"username": "carol", "role": "admin", "email": "carol@example.com"}
        r, _ = await self.call("alice", "POST", "/api/v1/users", json=body)
        assert r.status_code == 201, r.text

    async def start_thread(self, i: int, hook_url: str) -> None:
        roll = self.rng.random()
        if roll < 0.15:
            deadline = self.rng.random() < 0.25
            body: dict[str, Any] = {
                "workflow_id": f"wf-{i}",
                "callback_webhook": hook_url,
                "context": {"question": f"external {i}", "deadline": deadline},
                "response_schema": {
                    "type": "object",
                    "properties": {"decision": {"enum": ["approve", "reject"]}},
                    "required": ["decision"],
                },
            }
            if deadline:
                body["timeout_seconds"] = DEADLINE_SECONDS
                body["on_timeout"] = {"action": "default", "value": {"decision": "approve"}}
            r, _ = await self.call(
                "alice", "POST", "/api/v1/requests", json=body, headers={"Idempotency-Key": f"x{i}"}
            )
            assert r.status_code == 201, r.text
            self.load.externals[r.json()["id"]] = deadline
            return
        thread_id = f"chaos-{i}"
        if roll < 0.55:
            graph = "code_review"
            diff = HIGH_RISK_DIFF if self.rng.random() < 0.5 else LOW_RISK_DIFF
            input_: dict[str, Any] = {"diff": diff, "title": f"change {i}"}
        else:
            graph = "chaos_parallel"
            input_ = {}
            if self.rng.random() < 0.2:
                input_["deadline_seconds"] = DEADLINE_SECONDS
        body = {"graph": graph, "input": input_, "thread_id": thread_id}
        r, tries = await self.call("alice", "POST", "/api/v1/threads", json=body)
        assert r.status_code == 202 or (r.status_code == 409 and tries > 1), r.text
        self.load.threads[thread_id] = graph

    def answer_for(self, request: dict[str, Any], who: str) -> dict[str, Any] | None:
        """What ``who`` answers, or None when the request is left to its deadline."""
        value = request.get("value") or {}
        ok = self.rng.random() < 0.85
        if request.get("kind") == "external":
            if isinstance(value, dict) and value.get("deadline"):
                return None
            return {"decision": "approve" if ok else "reject"}
        if request["graph"] == "chaos_parallel":
            if "timeout_seconds" in value:
                return None
            return {"decision": "approve" if ok else "reject", "by": who}
        if request["graph"] == "code_review":
            if value.get("kind") == "code_review":
                other = self.rng.choice(["reject", "request_changes"])
                return {"decision": "approve" if ok else other, "comment": who}
            return {"decision": "approve" if ok else "reject", "comment": who}
        if request.get("kind") == "external":
            if isinstance(value, dict) and value.get("deadline"):
                return None
            return {"decision": "approve" if ok else "reject"}
        return None

    async def answer(self, request: dict[str, Any]) -> None:
        await asyncio.sleep(0.2 + self.rng.random() * 2.5)
        rid = request["id"]
        path = f"/api/v1/requests/{rid}/respond"
        # alice asks the external requests: four-eyes leaves them to bob
        people = ("bob",) if request.get("kind") == "external" else ("alice", "bob")
        if len(people) == 2 and self.rng.random() < 0.15:  # two people at once
            bodies = {who: self.answer_for(request, who) for who in people}
            if bodies["alice"] is None:
                return
            self.load.double_answered += 1
            results = await asyncio.gather(
                *(self.call(who, "POST", path, json={"response": b}) for who, b in bodies.items())
            )
            won = [
                (who, r)
                for (who, r) in zip(bodies, results, strict=True)
                if r[0].status_code == 200
            ]
            if len(won) > 1:
                self.load.double_both_won += 1
            for who, _ in won:
                self.load.answers[rid] = Answer(rid, bodies[who] or {}, f"key:{who}", time.time())
            if not won and any(tries > 1 for _, tries in results):
                self.load.ambiguous.add(rid)
            return
        who = self.rng.choice(people)
        body = self.answer_for(request, who)
        if body is None:
            return
        r, tries = await self.call(who, "POST", path, json={"response": body})
        if r.status_code == 200:
            self.load.answers[rid] = Answer(rid, body, f"key:{who}", time.time())
        elif r.status_code == 409 and tries > 1:
            self.load.ambiguous.add(rid)
        else:
            raise AssertionError(f"answer to {rid}: {r.status_code} {r.text}")

    async def watch_inbox(self, stop: asyncio.Event, tasks: set[asyncio.Task[None]]) -> None:
        """Poll the pending requests; schedule an answer for each new one."""
        while not stop.is_set():
            cursor = None
            while True:
                params: dict[str, Any] = {"state": "pending", "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                r, _ = await self.call("alice", "GET", "/api/v1/requests", params=params)
                page = r.json()
                for request in page["items"]:
                    if request["id"] not in self.load.scheduled:
                        self.load.scheduled.add(request["id"])
                        task = asyncio.create_task(self.answer(request))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            await asyncio.sleep(0.3)


async def read_outcomes(people: People, load: Load) -> dict[str, str | None]:
    """Each code_review thread's outcome, from its state over the API."""
    outcomes: dict[str, str | None] = {}
    for thread_id, graph in load.threads.items():
        if graph != "code_review":
            continue
        r, _ = await people.call("alice", "GET", f"/api/v1/threads/{thread_id}")
        if r.status_code == 200:
            outcomes[thread_id] = (r.json().get("values") or {}).get("outcome")
    return outcomes
