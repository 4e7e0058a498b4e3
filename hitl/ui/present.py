"""How values from agents are shown to people in the web UI: diffs, Markdown, ages.

Everything here returns plain strings that the templates escape, except `markdown`, which
returns HTML built by a Markdown renderer with raw HTML switched off (so ``<script>`` in a
description stays text) and unsafe link schemes refused. What a request is called (its
headline and title) is in `hitl.headlines`, which notifications use too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from hitl.webhooks.delivery_log import DeliveryStatus

# "commonmark" with raw HTML disabled: HTML in the text is shown as text. markdown-it's
# validateLink already refuses javascript:, vbscript:, file: and most data: URLs.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def markdown(text: Any) -> Markup:
    """Markdown rendered to safe HTML (raw HTML in the source is escaped, not passed through)."""
    return Markup(_md.render(str(text or "")))


def mentioned(text: str, names: list[str]) -> Markup:
    """A comment as safe HTML: its text escaped, line breaks kept, and each ``@name`` of a
    mentioned user marked."""
    html = str(escape(text))
    for name in sorted(names, key=len, reverse=True):
        at = str(escape("@" + name))
        html = re.sub(
            rf"(?<![\w@.]){re.escape(at)}(?![\w-])",
            f'<strong class="mention">{at}</strong>',
            html,
        )
    return Markup(html.replace("\n", "<br>"))


def age(at: datetime | None, now: datetime | None = None) -> str:
    """``"3 min ago"``: how long ago, in the largest unit that fits."""
    if at is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - at).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def when(at: datetime | None) -> str:
    """A timestamp people read: UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add | del | hunk | file | meta | ctx
    text: str


def diff_lines(diff: str) -> list[DiffLine]:
    """A unified diff, line by line, each with what it is (for colouring)."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("diff "):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith(("index ", "new file", "deleted file", "similarity", "rename ")):
            kind = "meta"
        else:
            kind = "ctx"
        out.append(DiffLine(kind, line))
    return out


def is_code_review(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and value.get("kind") == "code_review"
        and isinstance(value.get("diff"), str)
    )


@dataclass(frozen=True)
class TestRun:
    """The test run a ``deploy_approval`` asks about (`nodes.testing.RunResult`), for its card."""

    passed: bool
    what: str  # the profile's name, or the built-in check
    command: str | None
    exit_code: int | None
    duration_ms: int | None
    timed_out: bool
    output: str


def deploy_tests(value: Any) -> TestRun | None:
    """The tests of a ``code_review`` deploy approval, or None for any other value (which is
    shown as a tree)."""
    if not (isinstance(value, Mapping) and value.get("kind") == "deploy_approval"):
        return None
    tests = value.get("tests")
    if not (isinstance(tests, Mapping) and isinstance(tests.get("passed"), bool)):
        return None

    def number(key: str) -> int | None:
        n = tests.get(key)
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    profile, command, output = tests.get("profile"), tests.get("command"), tests.get("output")
    return TestRun(
        passed=tests["passed"],
        what=f"profile {profile}" if isinstance(profile, str) else "the built-in diff check",
        command=command if isinstance(command, str) else None,
        exit_code=number("exit_code"),
        duration_ms=number("duration_ms"),
        timed_out=tests.get("timed_out") is True,
        output=output if isinstance(output, str) else "",
    )


def description(value: Any) -> str | None:
    """Text describing the request, shown as Markdown above the answer."""
    if isinstance(value, Mapping):
        for key in ("description", "summary", "question"):
            if isinstance(value.get(key), str) and value[key].strip():
                return str(value[key])
    return None


def scalar(value: Any) -> str:
    """A JSON leaf as text (strings as they are, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def assigned_to(request: Any) -> str:
    """``"ana, bo and the group ops"``: who a request is assigned to, for a sentence."""
    return people(request.assignees, request.assigned_groups)


def voter_names(voters: Mapping[str, Any]) -> str:
    """Who a quorum's ``from`` names (`hitl.quorum`), for a sentence."""
    return people(voters.get("assignees") or [], voters.get("groups") or [])


def people(assignees: list[str], groups: list[str]) -> str:
    """``"ana, bo and the group ops"``."""
    names: list[str] = [*assignees, *(f"the group {g}" for g in groups)]
    if len(names) <= 1:
        return names[0] if names else "nobody in particular"
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class DeliveryOutcome:
    """What came of a webhook delivery, for people who do not manage webhooks: not its
    ``webhook-id``, the receiver's answer or the error of a failed attempt (which names hosts
    and addresses inside the network)."""

    event_type: str
    kind: str
    state: str
    delivered_at: datetime | None


def delivery_outcome(delivery: DeliveryStatus) -> DeliveryOutcome:
    return DeliveryOutcome(
        event_type=delivery.event_type,
        kind=delivery.kind,
        state=delivery.state,
        delivered_at=delivery.delivered_at,
    )
