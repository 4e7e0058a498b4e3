"""Sign-in throttling: past a number of failures per username or per client address in a
window, the login form answers 429 with Retry-After before any password is hashed; failures
are counted in Postgres (one row per key), not kept one audit entry each for a year."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hitl import retention
from hitl.auth import passwords
from hitl.config import Settings
from hitl.service import Service
from tests.support import auth


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "signin_max_failures_per_user": 3,
            "signin_max_failures_per_address": 6,
            "signin_window_seconds": 900.0,
            "retention_interval": 0.0,
        }
    )


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The passwords checked against a hash, in order (the real check still runs)."""
    checked: list[str] = []
    real = passwords.verify

    async def counting(stored_hash: str | None, password: str) -> bool:
        checked.append(password)
        return await real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify", counting)
    yield checked


async def sign_in(browser: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    browser.cookies.clear()  # signed out
    await browser.get("/login")
    token = browser.cookies["hitl_login_csrf"]
    return await browser.post(
        "/login", data={"username": username, "password": password, "_csrf": token}
    )


async def audit(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/api/v1/audit", params=params)).json()["items"]
    return items


async def test_failures_per_username_are_throttled_before_hashing(
    client: httpx.AsyncClient,
    from_address: Callable[[str], httpx.AsyncClient],
    hashed: list[str],
) -> None:
    password = await auth.make_user(client, "ann")
    await auth.make_user(client, "bob")
    first, second = from_address("192.0.2.1"), from_address("198.51.100.7")
    for guess in ("guess-one", "guess-two", "guess-three"):
        assert (await sign_in(first, "ann", guess)).status_code == 401
    assert hashed == ["guess-one", "guess-two", "guess-three"]

    refused = await sign_in(first, "ann", password)  # even the right password, from anywhere
    elsewhere = await sign_in(second, "ann", password)
    for r in (refused, elsewhere):
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 900
        assert "Too many failed sign-ins" in r.text and "try again in 15 minutes" in r.text
        assert "hitl_session" not in r.headers.get("set-cookie", "")
    assert hashed == ["guess-one", "guess-two", "guess-three"]  # refused before hashing

    # Another account is not held up, from the same address.
    assert (await sign_in(first, "bob", "bob-password")).status_code == 303

    # The audit log got one failure (the window's first) and one throttling, not an entry a guess.
    actions = [e["action"] for e in await audit(client, subject="user:ann")]
    assert actions.count("login.failed") == 1 and actions.count("login.throttled") == 1


async def test_failures_per_address_are_throttled(
    client: httpx.AsyncClient,
    from_address: Callable[[str], httpx.AsyncClient],
    hashed: list[str],
    service: Service,
) -> None:
    password = await auth.make_user(client, "ann")
    sprayer, other = from_address("203.0.113.9"), from_address("192.0.2.44")
    for i in range(6):  # a different unknown name each time: no per-user limit is reached
        assert (await sign_in(sprayer, f"nobody{i}", "guess")).status_code == 401
    refused = await sign_in(sprayer, "ann", password)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert len(hashed) == 6
    assert (await sign_in(other, "ann", password)).status_code == 303

    assert [e["action"] for e in await audit(client, subject="address:203.0.113.9")] == [
        "login.throttled"
    ]
    assert await audit(client, action="login.failed") == []  # unknown names leave no entry
    async with service.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT failures FROM hitl_signin_failures WHERE key = 'address:203.0.113.9'"
        )
        assert (await cur.fetchone())["failures"] == 7  # one row, however many attempts


async def test_a_success_starts_the_accounts_count_over_and_old_counts_age_out(
    client: httpx.AsyncClient,
    from_address: Callable[[str], httpx.AsyncClient],
    service: Service,
    settings: Settings,
) -> None:
    password = await auth.make_user(client, "ann")
    browser = from_address("2001:db8::1")
    for guess in ("a-guess-1", "a-guess-2"):
        assert (await sign_in(browser, "ann", guess)).status_code == 401
    assert (await sign_in(browser, "ann", password)).status_code == 303
    for guess in ("a-guess-3", "a-guess-4", "a-guess-5"):
        assert (await sign_in(browser, "ann", guess)).status_code == 401

    # An IPv6 client counts by its /64: another address of it is the same client.
    async with service.pool.connection() as conn:
        cur = await conn.execute("SELECT key, failures FROM hitl_signin_failures ORDER BY key")
        assert await cur.fetchall() == [
            {"key": "address:2001:db8::/64", "failures": 5},
            {"key": "user:ann", "failures": 3},
        ]
        # Once a window has ended, the next failure starts a new one...
        await conn.execute(
            "UPDATE hitl_signin_failures SET window_start = now() - interval '16 min'"
        )
    assert (await sign_in(browser, "ann", "a-guess-6")).status_code == 401
    async with service.pool.connection() as conn:
        cur = await conn.execute("SELECT failures FROM hitl_signin_failures WHERE key = 'user:ann'")
        assert (await cur.fetchone())["failures"] == 1
        # ...and retention deletes the counts whose window ended.
        await conn.execute(
            "UPDATE hitl_signin_failures SET window_start = now() - interval '16 min'"
        )
    pruned = await retention.prune(service.pool, settings)
    assert pruned.rows["hitl_signin_failures"] == 2
    async with service.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM hitl_signin_failures")
        assert (await cur.fetchone())["n"] == 0
