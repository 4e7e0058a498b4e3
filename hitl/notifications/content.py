"""What a notification says: a title, a line on why, and the link to the request page.

Pure functions. A notification goes to people who may not be allowed to see all of a request,
over channels (mailboxes, Slack channels) that keep copies, so it carries only what the inbox
shows in its list: the request's title, its graph, why it is sent (created, escalated, a
reminder with the deadline), who claimed it while the claim binds, and the link. Never the
interrupt's value beyond the headline the UI derives from it, never an answer, a callback URL,
a webhook secret or a signature. When the value yields no headline of its own (the inbox would
show a preview of the raw value), a generic title stands in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hitl import headlines

REASONS = {
    "request.created": "A new request is waiting for an answer.",
    "request.escalated": "A request was escalated to you: it is still waiting for an answer.",
    "request.reminded": "Reminder: a request is still waiting for an answer.",
    "request.mentioned": "You were mentioned in the discussion of a request.",
}
SUBJECT_PREFIX = {
    "request.created": "",
    "request.escalated": "Escalated: ",
    "request.reminded": "Reminder: ",
    "request.mentioned": "Mentioned: ",
}


@dataclass(frozen=True)
class RequestFacts:
    """The few fields of a request a notification may use."""

    id: str
    kind: str
    graph: str | None
    title: str | None
    value: Any
    state: str
    deadline_at: datetime | None = None
    response_schema: dict[str, Any] | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None


@dataclass(frozen=True)
class Button:
    """A one-click answer: its label and the link that confirms it (`hitl.notifications.tokens`)."""

    label: str
    link: str


@dataclass(frozen=True)
class Content:
    """A notification's text, channel-neutral (`hitl.notifications.smtp` and `.slack` lay it
    out)."""

    subject: str
    title: str
    reason: str
    facts: list[tuple[str, str]]  # (label, value) lines: graph, deadline, state
    link: str
    buttons: tuple[Button, ...] = ()  # email only: one per choice, for this recipient
    claim: str | None = None  # "Claimed by ana until ...", while a claim binds others

    def plain(self) -> str:
        lines = [self.title, "", self.reason, ""]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.claim:
            lines += ["", self.claim]
        if self.buttons:
            lines += ["", "Answer with one click (you confirm on the page it opens):"]
            lines += [f"  {b.label}: {b.link}" for b in self.buttons]
        lines += ["", f"Open it: {self.link}", ""]
        return "\n".join(lines)


def title_of(request: RequestFacts) -> str:
    """The title the inbox shows, unless that would be a preview of the raw value."""
    if request.title and request.title.strip():
        return headlines.request_title(request)
    headline = headlines.headline(request.value)
    if headline and headline != headlines.preview(request.value):
        return headline
    where = f" in {request.graph}" if request.graph else ""
    return f"A request{where} needs an answer"


def link_to(base: str, request_id: str) -> str:
    """The request's page in the web UI."""
    return f"{base.rstrip('/')}/requests/{request_id}"


def answer_link(base: str, token: str) -> str:
    """The confirmation page of a one-click answer."""
    return f"{base.rstrip('/')}/answer/{token}"


def when(at: datetime) -> str:
    """A time as notifications show it: ``2026-12-05 10:42 UTC``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def claim_line(request: RequestFacts, now: datetime | None = None) -> str | None:
    """ "Claimed by ana until 2026-12-05 11:42 UTC" while a pending request's claim binds
    others (`hitl.claims`); None otherwise (no claim, an expired one, an answered request)."""
    expires = request.claim_expires_at
    if request.state != "pending" or not request.claimed_by or expires is None:
        return None
    if expires <= (now or datetime.now(UTC)):
        return None
    return f"Claimed by {request.claimed_by} until {when(expires)}"


def deadline_of(details: dict[str, Any], request: RequestFacts) -> datetime | None:
    """The event's ``deadline_at`` if it has a readable one, else the request's deadline."""
    raw = details.get("deadline_at")
    if isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            at = None
        if at is not None:
            return at if at.tzinfo else at.replace(tzinfo=UTC)
    return request.deadline_at


def build(
    event_type: str, request: RequestFacts, details: dict[str, Any], link_base: str
) -> Content:
    title = title_of(request)
    facts: list[tuple[str, str]] = []
    if request.graph:
        facts.append(("Graph", request.graph))
    elif request.kind == "external":
        facts.append(("From", "an external agent"))
    deadline = deadline_of(details, request)
    if deadline is not None:
        facts.append(("Deadline", when(deadline)))
    if request.state != "pending":
        facts.append(("State", f"{request.state} (no answer is needed any more)"))
    subject = _one_line(SUBJECT_PREFIX.get(event_type, "") + title)
    return Content(
        subject=subject,
        title=title,
        reason=REASONS.get(event_type, "A request needs attention."),
        facts=facts,
        link=link_to(link_base, request.id),
        claim=claim_line(request),
    )


def _one_line(text: str) -> str:
    """No line breaks or control characters (a subject is a mail header)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
