"""Slack incoming webhooks: one JSON message (Block Kit, with a ``text`` fallback) per event.

The webhook URL is the secret (whoever has it can post to the channel), so it stays in the
`SecretStr` setting: it is not stored with the notification, errors are recorded without it,
and `hidden_from_logs` masks it in httpx's own request log lines. Text from agents is escaped
for Slack's markup (``&``, ``<``, ``>``), so a title cannot mention ``@channel`` or forge a
link.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx

from hitl.notifications.content import Content
from hitl.notifications.outcome import Outcome
from hitl.webhooks import schedule

# Slack answers 404 / 410 for a webhook that was revoked or whose channel is gone.
_GONE = (404, 410)


_MASK = "<the Slack webhook URL>"


class _MaskURL(logging.Filter):
    """Rewrites records that would show the URL (httpx logs every request's URL at INFO)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.url in message:
            record.msg, record.args = message.replace(self.url, _MASK), None
        return True


@contextlib.contextmanager
def hidden_from_logs(url: str) -> Iterator[None]:
    """While the block runs, httpx's log lines show a mask instead of ``url``."""
    mask = _MaskURL(url)
    logger = logging.getLogger("httpx")
    logger.addFilter(mask)
    try:
        yield
    finally:
        logger.removeFilter(mask)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(content: Content) -> dict[str, Any]:
    link = escape(content.link)
    facts = "\n".join(f"*{escape(label)}:* {escape(value)}" for label, value in content.facts)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*<{link}|{escape(content.title)}>*\n{escape(content.reason)}",
            },
        }
    ]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]})
    if content.claim:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(content.claim)}]}
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open the request"},
                    "url": content.link,
                }
            ],
        }
    )
    return {
        "text": f"{escape(content.subject)}: {link}",  # notifications and clients without blocks
        "blocks": blocks,
        "unfurl_links": False,
    }


async def send(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Outcome:
    """One POST; never raises for what Slack or the network does, never names the URL."""
    started = time.monotonic()
    try:
        response = await client.post(url, json=body)
    except httpx.TimeoutException:
        return Outcome(False, f"no answer in {time.monotonic() - started:.0f}s")
    except (httpx.HTTPError, OSError) as exc:
        # httpx's messages may quote the URL: name the kind of failure only.
        return Outcome(False, f"{type(exc).__name__}: could not reach the Slack webhook")
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status=status)
    said = " ".join(response.text[:200].replace(url, "<the webhook URL>").split())
    return Outcome(
        False,
        f"HTTP {status}" + (f": {said}" if said else ""),
        permanent=status in _GONE,
        status=status,
        retry_after=schedule.retry_after(response.headers.get("retry-after")),
    )
