"""What notifications say, and what they never say; the settings that configure them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest

from hitl.config import Settings
from hitl.notifications import content, slack, smtp

RID = "6f1c2a9e-0000-4000-8000-000000000001"


def facts(value: Any = None, **fields: Any) -> content.RequestFacts:
    base: dict[str, Any] = {
        "id": RID,
        "kind": "interrupt",
        "graph": "approval",
        "title": None,
        "value": value,
        "state": "pending",
    }
    return content.RequestFacts(**{**base, **fields})


def test_the_title_is_the_inboxs_unless_that_would_show_the_raw_value() -> None:
    assert content.title_of(facts({"question": "Ship it?", "diff": "secret"})) == "Ship it?"
    assert content.title_of(facts(None, kind="external", graph=None, title="Deploy?")) == "Deploy?"
    # No title, summary, question or kind: the inbox shows a preview of the value; we do not.
    raw = facts({"api_key": "sk-live-123", "amount": 5})
    assert content.title_of(raw) == "A request in approval needs an answer"
    assert "sk-live" not in content.build("request.created", raw, {}, "http://x").plain()
    assert content.title_of(facts("a bare string value")) == "A request in approval needs an answer"


def test_what_a_message_says_for_each_event() -> None:
    request = facts({"question": "Ship it?"}, deadline_at=datetime(2031, 5, 6, 7, 8, tzinfo=UTC))
    created = content.build("request.created", request, {}, "https://hitl.example.com/")
    assert created.subject == "Ship it?"
    assert created.link == f"https://hitl.example.com/requests/{RID}"
    assert ("Graph", "approval") in created.facts
    assert ("Deadline", "2031-05-06 07:08 UTC") in created.facts

    reminded = content.build(
        "request.reminded", request, {"deadline_at": "2030-01-02T03:04:05+00:00"}, "http://h"
    )
    assert reminded.subject == "Reminder: Ship it?"
    assert ("Deadline", "2030-01-02 03:04 UTC") in reminded.facts  # the event's deadline
    assert reminded.reason.startswith("Reminder")

    escalated = content.build("request.escalated", request, {"deadline_at": "garbage"}, "http://h")
    assert escalated.subject == "Escalated: Ship it?"
    assert ("Deadline", "2031-05-06 07:08 UTC") in escalated.facts  # unreadable: the request's

    answered = content.build("request.created", facts({"question": "Q"}, state="resumed"), {}, "x")
    assert ("State", "resumed (no answer is needed any more)") in answered.facts


def test_a_live_claim_is_said_in_every_channel_until_it_times_out() -> None:
    now = datetime(2026, 12, 5, 10, 42, tzinfo=UTC)
    until = datetime(2026, 12, 5, 11, 42, 30, tzinfo=UTC)
    claimed = facts({"question": "Ship it?"}, claimed_by="ana", claim_expires_at=until)
    assert content.claim_line(claimed, now) == "Claimed by ana until 2026-12-05 11:42 UTC"
    assert content.claim_line(claimed, until) is None  # timed out: it binds nobody
    assert content.claim_line(facts({"question": "Q"}), now) is None
    answered = facts({"question": "Q"}, state="responded", claimed_by="ana", claim_expires_at=until)
    assert content.claim_line(answered, now) is None

    live = dataclasses.replace(claimed, claim_expires_at=datetime.now(UTC) + timedelta(minutes=30))
    text = content.build("request.reminded", live, {}, "http://h")
    assert text.claim is not None and text.claim.startswith("Claimed by ana until ")
    msg = smtp.build(text, sender="hitl@example.com", to="bo@example.com", notification_id="n")
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    assert text.claim in plain.get_content() and text.claim in html.get_content()
    assert text.claim in str(slack.payload(text)["blocks"])


def test_a_subject_is_one_line() -> None:
    request = facts(None, kind="external", graph=None, title="Line one\r\nBcc: eve@example.com")
    subject = content.build("request.created", request, {}, "http://h").subject
    assert "\n" not in subject and "\r" not in subject
    msg = smtp.build(
        content.build("request.created", request, {}, "http://h"),
        sender="hitl@example.com",
        to="ana@example.com",
        notification_id="n-1",
    )
    assert msg["Bcc"] is None and msg["Message-ID"] == "<n-1@hitl.notifications>"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None


def test_slack_markup_from_agents_is_escaped() -> None:
    request = facts(None, kind="external", graph=None, title="<!channel> & <http://x|click>")
    body = slack.payload(content.build("request.created", request, {}, "http://h"))
    section = body["blocks"][0]["text"]["text"]
    assert (
        "<!channel>" not in section and "&lt;!channel&gt; &amp; &lt;http://x|click&gt;" in section
    )
    assert section.startswith(f"*<http://h/requests/{RID}|")
    assert body["blocks"][-1]["elements"][0]["url"] == f"http://h/requests/{RID}"


def test_notification_settings() -> None:
    assert Settings().notification_channels == []
    assert Settings(port=9001).link_base == "http://127.0.0.1:9001"
    on = Settings(
        smtp_host="mail.example.com",
        slack_webhook_url="https://hooks.slack.com/services/T/B/x",
        public_url="https://hitl.example.com/",
    )
    assert on.notification_channels == ["email", "slack"]
    assert on.link_base == "https://hitl.example.com"
    assert "hooks.slack.com" not in repr(on) and "hooks.slack.com" not in str(on.model_dump())

    with pytest.raises(pydantic.ValidationError) as bad:
        Settings(slack_webhook_url="hooks.slack.com/services/T/B/s3cret")
    assert "slack_webhook_url" in str(bad.value) and "s3cret" not in str(bad.value)
    with pytest.raises(pydantic.ValidationError, match="public_url"):
        Settings(public_url="hitl.example.com")
    with pytest.raises(pydantic.ValidationError, match="smtp_tls"):
        Settings(smtp_tls="ssl")


def test_slack_app_settings() -> None:
    webhook_only = Settings(slack_webhook_url="https://hooks.slack.com/services/T/B/x")
    assert not webhook_only.slack_app and webhook_only.recorded_channels == ["slack"]
    token_only = Settings(slack_bot_token="xoxb-1")  # no signing secret: answers could not come
    assert not token_only.slack_app and token_only.notification_channels == []
    app = Settings(
        slack_bot_token=" xoxb-1 ",
        slack_signing_secret="s3cret",
        slack_routes="graph:deploy=C01, group:ops = C02",
    )
    assert app.slack_app and app.recorded_channels == ["slack", "slack_app"]
    assert app.slack_route_map == {"graph:deploy": "C01", "group:ops": "C02"}
    assert "xoxb-1" not in repr(app) and "s3cret" not in str(app.model_dump())
    for routes in ("deploy=C01", "graph:deploy", "team:x=C01", "graph:=C01"):
        with pytest.raises(pydantic.ValidationError, match="slack_routes"):
            Settings(slack_routes=routes)
    with pytest.raises(pydantic.ValidationError, match="slack_api_url"):
        Settings(slack_api_url="slack.com/api")
