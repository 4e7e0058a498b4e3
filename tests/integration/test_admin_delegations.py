"""Delegations set from the pages: a person's own on the Account page; an admin's on the People
page (hitl/ui/admin.py), for someone away who could not set it themselves: listed with who set
it, refused with the reason and nothing changed for a bad one, cleared; and the person's
Account page says who set it. Real Postgres, the service's app in-process."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from tests.support import auth


async def session(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], name: str, role: str
) -> tuple[httpx.AsyncClient, str]:
    password = await auth.make_user(client, name, role=role)
    person = client_for()
    csrf = await auth.sign_in(person, name, password)
    return person, csrf


def local(at: datetime) -> str:
    """As a ``datetime-local`` field sends it (UTC on these pages)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def test_an_admin_sets_and_clears_a_delegation_for_someone_away(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    admin, csrf = await session(client, client_for, "root", "admin")
    ana, _ = await session(client, client_for, "ana", "responder")
    await auth.make_user(client, "bo")
    now = datetime.now(UTC)
    form = {
        "_csrf": csrf,
        "person": "ana",
        "delegate": "bo",
        "from": local(now - timedelta(minutes=5)),
        "until": local(now + timedelta(days=3)),
        "action": "save",
    }

    for field, value, reason in (
        ("delegate", "ana", "delegate: a person cannot delegate to themselves"),
        ("delegate", "nobody", "delegate: no enabled user 'nobody'"),
        ("until", local(now - timedelta(days=1)), "until: must be after from"),
        ("from", "soon", "from"),
        ("person", "nobody", "user 'nobody' not found"),
    ):
        r = await admin.post("/admin/delegations", data={**form, field: value})
        said = html.unescape(r.text)
        assert r.status_code == 422 and reason in said, (field, said)
        assert f'value="{value}"' in said or field == "person"  # the form keeps what was sent
    assert (await client.get("/api/v1/users/ana/delegation")).json() is None

    r = await admin.post("/admin/delegations", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users#delegations"
    saved = (await client.get("/api/v1/users/ana/delegation")).json()
    assert saved["delegate"] == "bo" and saved["created_by"] == "root"
    assert (await client.get("/api/v1/delegations")).json() == [saved]
    page = (await admin.get("/admin/users")).text
    assert "<td><strong>ana</strong></td>\n      <td>bo</td>" in page
    assert "<strong>bo</strong> answers for you" in (await ana.get("/account")).text
    assert "(set by root)" in (await ana.get("/account")).text
    audit = (await client.get("/api/v1/audit", params={"subject": "ana"})).json()["items"]
    assert [e["actor"] for e in audit if e["action"] == "delegation.set"] == ["root"]

    # a responder may not set someone else's, even with a valid token
    _, bo_csrf = await session(client, client_for, "cy", "responder")
    r = await ana.post("/admin/delegations", data={**form, "_csrf": bo_csrf})
    assert r.status_code == 403

    r = await admin.post(
        "/admin/delegations", data={"_csrf": csrf, "person": "ana", "action": "clear"}
    )
    assert r.status_code == 303
    assert (await client.get("/api/v1/users/ana/delegation")).json() is None
    assert "Nobody has delegated." in (await admin.get("/admin/users")).text
    assert (await client.get("/api/v1/delegations")).json() == []


async def test_a_person_sets_their_own_on_the_account_page(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient]
) -> None:
    ana, csrf = await session(client, client_for, "ana", "responder")
    await auth.make_user(client, "bo")
    now = datetime.now(UTC)
    form = {
        "_csrf": csrf,
        "delegate": "bo",
        "from": local(now),
        "until": local(now - timedelta(hours=1)),
        "action": "save",
    }
    r = await ana.post("/account/delegation", data=form)
    assert r.status_code == 422 and "until: must be after from" in r.text
    assert (await client.get("/api/v1/users/ana/delegation")).json() is None
    r = await ana.post("/account/delegation", data={**form, "until": local(now + timedelta(1))})
    assert r.status_code == 303
    saved = (await client.get("/api/v1/users/ana/delegation")).json()
    assert saved["delegate"] == "bo" and saved["created_by"] == "ana"
    r = await ana.post("/account/delegation", data={"_csrf": csrf, "action": "clear"})
    assert r.status_code == 303
    assert (await client.get("/api/v1/users/ana/delegation")).json() is None
