"""ASGI middleware that bounds request bodies: their size (413) and their JSON nesting (422).

The body is read whole (it is at most ``max_bytes``) before the app sees it, for two reasons:

* a chunked body (no ``Content-Length``) that grows past the limit is refused here with 413;
  raised from inside the app's ``receive`` it would surface as FastAPI's 400 "error parsing
  the body";
* nesting is checked on the raw bytes, before any parser recurses into it. A JSON value nested
  a few hundred levels deep passes ``json.loads`` and Postgres, but pydantic refuses to
  serialise more than ~250 levels, so once stored it would break every listing that shows it
  (and jsonschema, ``json.dumps`` and ``json.loads`` recurse too). The scan is linear and runs
  in C: strings are cut out with one regular expression, the brackets left are counted with
  ``itertools.accumulate``; only a body that is too deep is walked again, in Python, to name
  where.

JSON is checked in JSON bodies (and bodies without a content type, which FastAPI reads as
JSON) and in the fields of URL-encoded forms that hold JSON (the web UI's answer fields). A
JSON body that is not valid UTF-8 gets 422 here too (FastAPI answers it with a bare 400).

The NUL character is refused (422) in the path, the query and form fields, and in JSON so
are NUL, lone surrogates, NaN and infinite numbers (Python's parser takes all of them):
Postgres stores none of them in ``text`` or ``jsonb``, so each would fail its statement
(a 500) wherever it reaches a query.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl import validation

# A JSON string, escapes included; unterminated, it runs to the end of the body. Every match
# succeeds where it starts and the engine never backtracks into it, so a scan is linear (a
# required closing quote would retry from every quote of an unterminated string: quadratic).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}:,]', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
# What may be a value Postgres cannot store (`hitl.validation.unstorable`): ``\u0000`` or a
# surrogate escape, NaN, Infinity, an exponent or a long run of digits (either may overflow
# to infinity). A false alarm only costs a parse.
_UNSTORABLE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|NaN|Infinity|[0-9][eE]|(?<![0-9])[0-9]{300}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def too_deep(body: bytes, max_depth: int) -> list[str | int] | None:
    """Where ``body`` (JSON text) nests arrays and objects deeper than ``max_depth``: the path
    to the first value past the limit, or ``None`` if it does not."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return None  # the common case: too few brackets to be too deep
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= max_depth:
        return None
    if max(itertools.accumulate(map(_STEP.__getitem__, brackets))) <= max_depth:
        return None
    return _path_past(body, max_depth)


def _path_past(body: bytes, max_depth: int) -> list[str | int]:
    """The path of the first array or object opened past ``max_depth`` (only for a body known
    to be too deep; it stops there, so it reads the body at most once)."""
    # one frame per open container: [its kind, the current key or index, expecting a key]
    frames: list[list[Any]] = []
    for match in _TOKEN.finditer(body):
        token = match.group()
        top = frames[-1] if frames else None
        if token in (b"[", b"{"):
            if len(frames) == max_depth:
                break
            frames.append([token, 0, False] if token == b"[" else [token, "", True])
        elif token in (b"]", b"}"):
            if frames:
                frames.pop()
        elif top is None:
            continue
        elif token == b",":
            if top[0] == b"[":
                top[1] += 1
            else:
                top[2] = True
        elif token == b":":
            top[2] = False
        elif top[0] == b"{" and top[2]:
            top[1] = _key(token)
    return [frame[1] for frame in frames]


def _key(token: bytes) -> str:
    try:
        key = json.loads(token)
    except ValueError:
        return token[1:-1].decode(errors="replace")
    return key if isinstance(key, str) else str(key)


class BodyLimits:
    """Refuse bodies over ``max_bytes`` (413) and JSON nested deeper than ``max_depth`` (422,
    naming where), before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        problem = _nul_in_url(scope)
        if problem is not None:
            await _refuse(send, 422, [problem])
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _refuse(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was complete
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = self._body_problem(headers.get(b"content-type", b""), body)
        if problem is not None:
            await _refuse(send, 422, [problem])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect is left to wait for

        await self.app(scope, replay, send)

    def _body_problem(self, content_type: bytes, body: bytes) -> dict[str, Any] | None:
        if not body:
            return None
        media = content_type.split(b";", 1)[0].strip().lower()
        if media == b"application/x-www-form-urlencoded":
            fields = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True)
            for name, value in fields:
                if "\x00" in name or "\x00" in value:
                    return _nul_problem(["body", name])
                raw = value.encode("latin-1", errors="replace")
                where = too_deep(raw, self.max_depth)
                if where is not None:
                    return self._problem(["body", name, *where])
            return None
        if media and media != b"application/json" and not media.endswith(b"+json"):
            return None  # not JSON: FastAPI will not parse it as such
        try:  # FastAPI answers a body it cannot decode with a bare 400
            body.decode(json.detect_encoding(body))
        except UnicodeDecodeError as exc:
            msg = f"not valid JSON: undecodable byte at position {exc.start}"
            return {"loc": ["body"], "msg": msg, "type": "json_invalid"}
        where = too_deep(body, self.max_depth)
        if where is not None:
            return self._problem(["body", *where])
        if _UNSTORABLE.search(body):
            try:  # safe to parse now: its depth is bounded
                found = validation.unstorable(json.loads(body))
            except ValueError as exc:
                if "digits" not in str(exc):
                    return None  # not JSON: FastAPI answers 422 for that
                problem = "holds a number with more digits than can be read (4300)"
                return {"loc": ["body"], "msg": problem, "type": "value"}
            if found is not None:
                where, problem = found
                return {"loc": ["body", *where], "msg": problem, "type": "value"}
        return None

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"

    def _problem(self, loc: list[str | int]) -> dict[str, Any]:
        return {
            "loc": loc,
            "msg": f"JSON nested deeper than {self.max_depth} levels "
            "(arrays and objects; HITL_MAX_JSON_DEPTH)",
            "type": "json_depth",
        }


def _nul_in_url(scope: Scope) -> dict[str, Any] | None:
    if "\x00" in scope.get("path", ""):
        return _nul_problem(["path"])
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return _nul_problem(["query", name])
    return None


def _nul_problem(loc: list[str | int]) -> dict[str, Any]:
    return {"loc": loc, "msg": "must not contain the NUL character (U+0000)", "type": "string_nul"}


async def _refuse(send: Send, status: int, detail: Any) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
