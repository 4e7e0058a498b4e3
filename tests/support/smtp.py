"""An SMTP server on 127.0.0.1 for tests (aiosmtpd's controller): keeps every message it takes.

    async with SMTPSink() as smtp:
        ... HITL_SMTP_HOST=127.0.0.1, HITL_SMTP_PORT=smtp.port, HITL_SMTP_TLS=none ...
        [mail] = await smtp.wait_for(1)

``port`` may be chosen before the server starts (to start it later: a server that is down
first). ``login`` makes it accept AUTH with that user name and password; ``refuse`` lists
addresses it answers 550 for. The controller runs its own event loop in a thread; arrivals are
handed to the test's loop.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hitl.config import Settings
from hitl.launcher import free_port


def mailing(settings: Settings, port: int, **more: Any) -> Settings:
    """``settings`` sending email through an `SMTPSink` on ``port`` (plain SMTP, from
    ``hitl@example.com``), with ``more`` over them."""
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none"}
    return settings.model_copy(update={**smtp, "smtp_from": "hitl@example.com", **more})


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None  # who authenticated, if anyone

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())  # type: ignore[attr-defined]

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        self.sink._arrive(
            Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 Message accepted"


class SMTPSink:
    def __init__(
        self,
        port: int | None = None,
        *,
        login: tuple[str, str] | None = None,
        refuse: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.port = port or free_port()
        self.refuse = set(refuse)
        self.received: list[Mail] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()
        kwargs: dict[str, Any] = {}
        if login is not None:
            user, password = login

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (
                    data.login.decode(),
                    data.password.decode(),
                ) == (user, password)
                return AuthResult(success=ok, auth_data=data if ok else None)

            # Offered, not required (aiosmtpd warns about requiring it without TLS); the mail
            # records who logged in. A test server on loopback: no certificate, no TLS.
            kwargs = {"authenticator": authenticator, "auth_require_tls": False}
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **kwargs
        )

    async def __aenter__(self) -> SMTPSink:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._controller.stop)

    def _arrive(self, mail: Mail) -> None:  # on the controller's thread
        with self._lock:
            self.received.append(mail)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._arrived.set)

    async def wait_for(self, count: int, timeout: float = 20) -> list[Mail]:
        """The first ``count`` messages, once that many arrived."""
        async with asyncio.timeout(timeout):
            while True:
                self._arrived.clear()
                with self._lock:
                    if len(self.received) >= count:
                        return self.received[:count]
                await self._arrived.wait()
