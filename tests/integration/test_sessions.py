"""Browser sessions: an absolute lifetime on top of the sliding one, and the ``__Host-``
Secure cookie over HTTPS, also behind a TLS-terminating proxy that the service trusts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hitl.config import Settings
from hitl.service import Service
from tests.support import auth

HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"session_max_age_seconds": 7 * 86400.0, "forwarded_allow_ips": "127.0.0.1"}
    )


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name (the whole header each)."""
    return {h.partition("=")[0]: h for h in response.headers.get_list("set-cookie")}


async def sign_in(c: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    """Sign in as the test admin through the form, cookies passed by hand (a Secure cookie is
    not sent back to an http:// base URL by httpx's jar)."""
    form = await c.get("/login", headers=headers)
    token = form.cookies["hitl_login_csrf"]
    c.cookies.clear()
    return await c.post(
        "/login",
        data={"username": auth.ADMIN_USER, "password": auth.ADMIN_PASSWORD, "_csrf": token},
        headers={**(headers or {}), "Cookie": f"hitl_login_csrf={token}"},
    )


def attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


async def test_behind_a_trusted_proxy_the_cookie_is_host_prefixed_and_secure(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    proxy = from_address("127.0.0.1")
    r = await sign_in(proxy, HTTPS)
    assert r.status_code == 303, r.text
    cookies = set_cookies(r)
    assert "hitl_session" not in cookies
    header = cookies["__Host-hitl_session"]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes(header)
    assert not any(a.startswith("domain") for a in attributes(header))
    token = header.split(";")[0].partition("=")[2]

    proxy.cookies.clear()
    me = await proxy.get("/api/v1/me", headers={**HTTPS, "Cookie": f"__Host-hitl_session={token}"})
    assert me.status_code == 200 and me.json()["name"] == auth.ADMIN_USER
    # Over HTTPS only the __Host- name counts: a plain cookie (which any sibling host or
    # plain-http page could have planted) is not read.
    planted = await proxy.get("/api/v1/me", headers={**HTTPS, "Cookie": f"hitl_session={token}"})
    assert planted.status_code == 401


async def test_an_untrusted_address_cannot_claim_https(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    r = await sign_in(from_address("10.20.30.40"), HTTPS)
    assert r.status_code == 303, r.text
    cookies = set_cookies(r)
    assert "__Host-hitl_session" not in cookies
    assert "secure" not in attributes(cookies["hitl_session"])


async def test_plain_http_on_localhost_keeps_working(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    browser = from_address("127.0.0.1")
    r = await sign_in(browser)
    assert r.status_code == 303, r.text
    header = set_cookies(r)["hitl_session"]
    assert "secure" not in attributes(header) and "httponly" in attributes(header)
    browser.cookies.set("hitl_session", header.split(";")[0].partition("=")[2])
    assert (await browser.get("/api/v1/me")).status_code == 200


async def test_a_session_ends_at_its_maximum_age_however_much_it_is_used(
    client: httpx.AsyncClient, client_for: Callable[..., httpx.AsyncClient], service: Service
) -> None:
    ann = client_for()
    await auth.sign_in(ann, auth.ADMIN_USER, auth.ADMIN_PASSWORD)

    async def session() -> dict[str, Any]:
        async with service.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT created_at, expires_at, now() AS now FROM hitl_sessions"
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def age(created: str, seen: str) -> None:
        async with service.pool.connection() as conn:
            await conn.execute(
                "UPDATE hitl_sessions SET created_at = now() - %s::interval,"
                " last_seen_at = now() - %s::interval, expires_at = now() + interval '1 hour'",
                (created, seen),
            )

    # Signed in 6 days 23 hours ago, in use: extended, but only up to 7 days from sign-in.
    await age("6 days 23 hours", "2 minutes")
    assert (await ann.get("/api/v1/me")).status_code == 200
    row = await session()
    assert row["expires_at"] <= row["created_at"] + timedelta(days=7)

    # Signed in 7 days and a minute ago, used a minute ago, not expired by disuse: ended.
    await age("7 days 1 minute", "1 minute")
    assert (await ann.get("/api/v1/me")).status_code == 401
    # A new sign-in gets a new session.
    await auth.sign_in(ann, auth.ADMIN_USER, auth.ADMIN_PASSWORD)
    assert (await ann.get("/api/v1/me")).status_code == 200
