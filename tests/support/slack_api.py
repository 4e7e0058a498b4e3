"""A stand-in for Slack's Web API on 127.0.0.1, and Slack's signed interactivity requests.

    async with SlackAPI(token="xoxb-test", people={"ana@example.com": "U0ANA"}) as api:
        ... HITL_SLACK_API_URL=api.base_url ...
        [post] = await api.wait_for("chat.postMessage", 1)

It implements the methods the service calls as Slack documents them (https://api.slack.com/
methods): ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``views.open`` take
JSON bodies (or forms); ``users.lookupByEmail`` and ``users.info`` take query parameters or a
form (never JSON); each needs the
bot token as ``Authorization: Bearer``; answers are HTTP 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``. A message to a user id goes to the app's direct message
conversation with them (a ``D...`` channel); a post with ``thread_ts`` replies to that message
of the conversation (``thread_not_found`` if there is none). It keeps the messages as last
written, so a test reads what people see. ``fail`` scripts errors per method (an error name,
or an HTTP status such as 429 with Retry-After).

`signed` builds an interactivity request as Slack sends one: ``payload=<JSON>`` form-encoded,
``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` = ``v0=`` + HMAC-SHA256 of
``v0:<timestamp>:<body>`` with the signing secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.support.receiver import Served

JSON_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open"})
QUERY_METHODS = frozenset({"users.lookupByEmail", "users.info"})


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    updates: int = 0
    #: The message it replies to, in a thread.
    thread_ts: str | None = None

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]

    def action_ids(self) -> list[str]:
        return [str(b.get("action_id")) for b in self.buttons()]


@dataclass
class SlackAPI(Served):
    token: str = "xoxb-test"
    #: email -> Slack user id (users.lookupByEmail); users.info answers for these.
    people: dict[str, str] = field(default_factory=dict)
    #: Slack user ids whose email Slack has not confirmed.
    unconfirmed: set[str] = field(default_factory=set)
    #: method -> how to answer its next calls, in order: an error ("channel_not_found"), an
    #: HTTP status with Retry-After ((429, seconds)), or None (as usual).
    fail: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self._app)
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self._count = 0
        self._changed = asyncio.Condition()

    @property
    def base_url(self) -> str:
        return self.url("/api/")

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, method: str, count: int, timeout: float = 20, **match: Any
    ) -> list[Call]:
        """The first ``count`` calls of ``method`` (whose params include ``match``)."""

        def found() -> list[Call]:
            return [
                c for c in self.of(method) if all(c.params.get(k) == v for k, v in match.items())
            ]

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count)
        return found()[:count]

    async def until(self, check: Any, timeout: float = 20) -> None:
        """Wait until ``check()`` is true of the calls and messages."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(check)

    # -- the server --------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method = scope["path"].removeprefix("/api/")
        status, reply, extra = self._answer(method, headers, body, scope.get("query_string", b""))
        out = json.dumps(reply).encode()
        response_headers = [(b"content-type", b"application/json; charset=utf-8")]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": out})
        async with self._changed:
            self._changed.notify_all()

    def _answer(
        self, method: str, headers: dict[str, str], body: bytes, query: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        kind = headers.get("content-type", "")
        form = kind.startswith("application/x-www-form-urlencoded")
        if method in JSON_METHODS and kind.startswith("application/json"):
            params = json.loads(body or b"{}")
        elif method in JSON_METHODS | QUERY_METHODS:
            # a query string, or a form body (which Slack takes for every method; JSON is for
            # write methods only)
            fields = parse_qs(query.decode()) | (parse_qs(body.decode()) if form else {})
            params = {k: v[0] for k, v in fields.items()}
        else:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        self.calls.append(Call(method, params))
        script = self.fail.get(method)
        failure = script.pop(0) if script else None
        if failure is not None:
            if isinstance(failure, tuple):
                status, retry_after = failure
                error = {"ok": False, "error": "ratelimited"}
                return status, error, {"retry-after": str(retry_after)}
            return 200, {"ok": False, "error": failure}, {}
        return 200, getattr(self, "_" + method.replace(".", "_"))(params), {}

    def _ts(self) -> str:
        self._count += 1
        return f"{int(time.time())}.{self._count:06d}"

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("U"):  # a user id: the app's direct message conversation
            if channel not in self.people.values():
                return {"ok": False, "error": "channel_not_found"}
            channel = "D" + channel[1:]
        parent = params.get("thread_ts")
        if parent is not None and (channel, str(parent)) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = self._ts()
        text, blocks = str(params.get("text") or ""), list(params.get("blocks") or [])
        self.messages[(channel, ts)] = Message(
            channel, ts, text, blocks, thread_ts=str(parent) if parent is not None else None
        )
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        found = self.messages.get(key)
        if found is None:
            return {"ok": False, "error": "message_not_found"}
        found.text = str(params.get("text") or found.text)
        found.blocks = list(params.get("blocks") or [])
        found.updates += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": found.text}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._ts()}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {"ok": True, "view": {**params.get("view", {}), "id": f"V{self._count}"}}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.people.get(str(params.get("email", "")).lower())
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": self._user(user)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user", ""))
        if user not in self.people.values():
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user(user)}

    def _user(self, user: str) -> dict[str, Any]:
        email = next(e for e, u in self.people.items() if u == user)
        return {
            "id": user,
            "team_id": "T0TEAM",
            "name": email.split("@")[0],
            "is_email_confirmed": user not in self.unconfirmed,
            "profile": {"email": email, "real_name": email.split("@")[0]},
        }


def signed(
    secret: str, payload: dict[str, Any], *, at: float | None = None, sign_with: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an interactivity request as Slack sends it."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(at if at is not None else time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new((sign_with or secret).encode(), base, hashlib.sha256).hexdigest()
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }


def block_action(
    user: str, message: Message, action: dict[str, Any], trigger_id: str = "13345224609.738474920"
) -> dict[str, Any]:
    """A button click's payload (``block_actions``), as Slack documents it."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": message.channel, "name": "approvals"},
        "message": {"type": "message", "ts": message.ts, "text": message.text},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/x",
        "actions": [
            {
                "action_id": action["action_id"],
                "block_id": "b",
                "text": action.get("text"),
                "value": action.get("value"),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(user: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A modal's submission (``view_submission``), as Slack documents it."""
    return {
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "trigger_id": "12466734323.1395872398",
        "view": {**view, "id": "V0VIEW", "state": {"values": values}, "hash": "156772938.1827394"},
        "response_urls": [],
    }
