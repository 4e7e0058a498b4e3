"""Email over SMTP (``aiosmtplib``): the message, and one attempt to hand it to the server.

The message is plain text with a simple HTML alternative. Its ``Message-ID`` is derived from the
notification's id, so a message sent again after a crash mid-send can be told apart as the same
one. The password comes from a `SecretStr` and never reaches a log line or ``last_error``.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from hitl.config import Settings
from hitl.notifications.content import Content
from hitl.notifications.outcome import Outcome


def message_id(notification_id: str) -> str:
    return f"<{notification_id}@hitl.notifications>"


def build(content: Content, *, sender: str, to: str, notification_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(notification_id)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    msg.set_content(content.plain())
    msg.add_alternative(_html(content), subtype="html")
    return msg


def _buttons(content: Content) -> str:
    if not content.buttons:
        return ""
    e = html.escape
    style = (
        "display:inline-block;padding:8px 16px;margin:0 8px 8px 0;border:1px solid #444;"
        "border-radius:4px;text-decoration:none"
    )
    links = "".join(
        f'<a href="{e(b.link, quote=True)}" style="{style}">{e(b.label)}</a>'
        for b in content.buttons
    )
    note = "<p><small>You confirm your answer on the page a button opens.</small></p>"
    return f"<p>{links}</p>{note}"


def _html(content: Content) -> str:
    e = html.escape
    facts = "".join(f"<li>{e(label)}: {e(value)}</li>" for label, value in content.facts)
    return (
        "<!doctype html><html><body>"
        f"<h2>{e(content.title)}</h2>"
        f"<p>{e(content.reason)}</p>"
        f"<ul>{facts}</ul>"
        + (f"<p><strong>{e(content.claim)}</strong></p>" if content.claim else "")
        + _buttons(content)
        + f'<p><a href="{e(content.link, quote=True)}">Open the request</a></p>'
        "</body></html>"
    )


async def send(settings: Settings, msg: EmailMessage, to: str) -> Outcome:
    """One attempt; never raises for what the server or the network does."""
    assert settings.smtp_host is not None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            msg,
            sender=settings.smtp_from,
            recipients=[to],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password if settings.smtp_username else None,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=settings.webhook_timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        permanent = all(500 <= c < 600 for c in codes)
        return Outcome(False, _describe(exc), permanent=permanent)
    except aiosmtplib.SMTPResponseException as exc:
        # 5xx answers are final (a refused sender, a message refused for good); 4xx may pass.
        return Outcome(False, _describe(exc), permanent=500 <= exc.code < 600)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Outcome(False, _describe(exc))
    return Outcome(True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or "no detail"
    return f"{type(exc).__name__}: {text}"[:500]
