"""Accounts and keys the tests sign in with.

The template database every test copies holds an admin account and an admin API key
(`install`), so the ``client`` and ``http`` fixtures act as that admin; tests that check who
may do what make their own accounts and keys (`make_key`, `make_user`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from argon2 import PasswordHasher
from playwright.async_api import BrowserContext

from hitl.auth import apikeys

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
ADMIN_KEY = "hitl_testadmn_" + "k" * 40
BEARER = {"Authorization": f"Bearer {ADMIN_KEY}"}


def install(conn: psycopg.Connection[Any]) -> None:
    """The test admin and their key, written once into the template database."""
    conn.execute(
        "INSERT INTO hitl_users (username, display_name, password_hash, role) "
        "VALUES (%s, 'Test Admin', %s, 'admin')",
        (ADMIN_USER, PasswordHasher().hash(ADMIN_PASSWORD)),
    )
    conn.execute(
        "INSERT INTO hitl_api_keys (name, prefix, key_hash, scopes, created_by) "
        "VALUES ('tests', 'hitl_testadmn', %s, '{*}', 'tests')",
        (apikeys.digest(ADMIN_KEY),),
    )


async def make_key(admin: httpx.AsyncClient, *scopes: str, name: str = "k") -> str:
    r = await admin.post("/api/v1/apikeys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def make_user(
    admin: httpx.AsyncClient, username: str, role: str = "responder", **extra: Any
) -> str:
    """Create an account; returns its password."""
    password = f"{username}-password"
    body = {"username": username, "role": role, "password": password, **extra}
    r = await admin.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    return password


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Sign ``client`` in through the login form (its cookie jar keeps the session); returns
    the session's CSRF token."""
    client.headers.pop("Authorization", None)
    form = await client.get("/login")
    token = form.cookies.get("hitl_login_csrf") or client.cookies.get("hitl_login_csrf")
    r = await client.post(
        "/login", data={"username": username, "password": password, "_csrf": token, "next": "/"}
    )
    assert r.status_code == 303, r.text
    me = await client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    return str(me.json()["csrf_token"])


async def signed_in(
    admin: httpx.AsyncClient,
    client_for: Callable[..., httpx.AsyncClient],
    name: str,
    **extra: Any,
) -> httpx.AsyncClient:
    """A new account ``name`` (made by ``admin``, with ``extra`` fields such as ``email``)
    signed in on a client of its own (``client_for()``, the integration tests' fixture),
    sending its CSRF token."""
    password = await make_user(admin, name, **extra)
    session = client_for()
    session.headers["X-CSRF-Token"] = await sign_in(session, name, password)
    return session


async def sign_in_browser(
    context: BrowserContext, url: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD
) -> None:
    """Sign a browser context in through the login page; its pages share the session."""
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(url + "/")
    await page.close()
