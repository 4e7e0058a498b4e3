"""Delegation (hitl/delegation.py): a delegate answers in the window and is refused outside it,
the record says for whom, chains are bounded and cycle-safe, four-eyes holds through a
stand-in, and notifications follow. Real Postgres, the service's app in-process, a local SMTP
server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hitl.auth import users
from hitl.config import Settings
from hitl.service import Service
from tests.integration.test_answer_reassigned import signed_in
from tests.integration.test_four_eyes import APPROVE
from tests.support.api import asked, respond
from tests.support.smtp import SMTPSink, mailing


@pytest.fixture
def settings(settings: Settings, smtp_port: int) -> Settings:
    return mailing(settings, smtp_port, public_url="http://hitl.example")


def window(start: float = -60, end: float = 3600) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now + timedelta(seconds=start)).isoformat(),
        "until": (now + timedelta(seconds=end)).isoformat(),
    }


async def delegate(who: httpx.AsyncClient, to: str, **times: float) -> httpx.Response:
    return await who.put("/api/v1/me/delegation", json={"delegate": to, **window(**times)})


async def test_a_delegate_answers_in_the_window_for_the_person(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, bo, cy = [await signed_in(client, client_for, n) for n in ("ana", "bo", "cy")]
    for_ana = await asked(client, "terms", assignees=["ana"])
    refused = await respond(bo, for_ana["id"], APPROVE)
    assert refused.status_code == 403  # not yet

    r = await delegate(ana, "bo")
    assert r.status_code == 200, r.text
    assert r.json()["delegate"] == "bo" and r.json()["created_by"] == "ana"
    assert (await ana.get("/api/v1/me/delegation")).json()["delegate"] == "bo"

    page = (await bo.get(f"/requests/{for_ana['id']}")).text
    assert 'id="delegation-notice"' in page and "<strong>ana</strong>" in page
    answered = await respond(bo, for_ana["id"], APPROVE)
    assert answered.status_code == 200, answered.text
    assert answered.json()["responded_by"] == "bo" and answered.json()["responded_for"] == "ana"
    audit = (await client.get("/api/v1/audit", params={"subject": for_ana["id"]})).json()
    [entry] = [e for e in audit["items"] if e["action"] == "request.respond"]
    assert entry["actor"] == "bo" and entry["data"]["for"] == "ana"
    page = (await client.get(f"/requests/{for_ana['id']}")).text
    assert '<strong>bo</strong> for <strong id="responded-for">ana</strong> answered' in page

    # cy is nobody's delegate: still refused
    another = await asked(client, "terms", assignees=["ana"])
    assert (await respond(cy, another["id"], APPROVE)).status_code == 403

    # outside the window: refused (a window that starts later, one that ended)
    assert (await delegate(ana, "bo", start=600, end=1200)).status_code == 200
    assert (await respond(bo, another["id"], APPROVE)).status_code == 403
    assert (await ana.delete("/api/v1/me/delegation")).status_code == 204
    assert (await ana.get("/api/v1/me/delegation")).json() is None
    assert (await respond(bo, another["id"], APPROVE)).status_code == 403


async def test_groups_chains_cycles_and_four_eyes(
    client: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    service: Service,
) -> None:
    names = ("ana", "bo", "cy", "di", "ed")
    ana, bo, cy, di, ed = [await signed_in(client, client_for, n) for n in names]
    async with service.pool.connection() as conn:
        await users.add_to_group(conn, "ana", "ops", actor="tests")

    # a chain: ana -> bo -> cy -> di -> ed, and a cycle back: di -> ana is not possible
    # (one delegation each), so close one with ed -> ana
    for who, to in ((ana, "bo"), (bo, "cy"), (cy, "di"), (di, "ed"), (ed, "ana")):
        assert (await delegate(who, to)).status_code == 200
    for_ops = await asked(client, "terms", assigned_groups=["ops"])
    r = await respond(cy, for_ops["id"], APPROVE)  # two links from ana, through her group
    assert r.status_code == 200 and r.json()["responded_for"] == "ana", r.text

    for_ana = await asked(client, "terms", assignees=["ana"])
    r = await respond(ed, for_ana["id"], APPROVE)  # four links: past the bound
    assert r.status_code == 403
    r = await respond(di, for_ana["id"], APPROVE)  # three links: within it
    assert r.status_code == 200 and r.json()["responded_for"] == "ana"

    # four-eyes holds through a stand-in: bo may not approve ana's own request for her
    own = await asked(
        client, "terms", assignees=["ana"], forbid_self_approval=True, on_behalf_of="ana"
    )
    r = await respond(bo, own["id"], APPROVE)
    assert r.status_code == 403 and "forbid_self_approval" in r.json()["detail"]


async def test_bad_delegations_are_refused_and_admins_set_them_for_others(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana = await signed_in(client, client_for, "ana")
    await signed_in(client, client_for, "bo")
    now = datetime.now(UTC)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"delegate": "ana", **window()}, "delegate"),
        ({"delegate": "nobody", **window()}, "delegate"),
        ({"delegate": "bo", **window(start=60, end=30)}, "until"),
        ({"delegate": "bo", **window(end=400 * 86400)}, "until"),
        ({"delegate": "bo", "from": "2026-07-01T09:00:00", "until": now.isoformat()}, "from"),
        ({"delegate": "bo", "from": "soon", "until": now.isoformat()}, "from"),
    ]
    for body, field in bad:
        r = await ana.put("/api/v1/me/delegation", json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text
    assert (await ana.get("/api/v1/me/delegation")).json() is None

    r = await client.put("/api/v1/users/ana/delegation", json={"delegate": "bo", **window()})
    assert r.status_code == 200 and r.json()["created_by"] == "key:tests"
    r = await client.put("/api/v1/users/nobody/delegation", json={"delegate": "bo", **window()})
    assert r.status_code == 404
    r = await ana.put("/api/v1/users/bo/delegation", json={"delegate": "ana", **window()})
    assert r.status_code == 403

    page = (await ana.get("/account")).text
    assert "<strong>bo</strong> answers for you" in page and "set by key:tests" in page


async def test_notifications_follow_the_delegation(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], smtp: SMTPSink
) -> None:
    for name in ("ana", "bo"):
        body = {"username": name, "role": "responder", "email": f"{name}@example.com"}
        assert (await client.post("/api/v1/users", json=body)).status_code == 201
    r = await client.put("/api/v1/users/ana/delegation", json={"delegate": "bo", **window()})
    assert r.status_code == 200
    await asked(client, "terms", assignees=["ana"])
    mails = await smtp.wait_for(2)
    assert sorted(to for m in mails for to in m.rcpt_tos) == ["ana@example.com", "bo@example.com"]
