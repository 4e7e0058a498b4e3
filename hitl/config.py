"""Settings: one pydantic-settings class, read from ``HITL_*`` environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from hitl import errors, policies


class Settings(BaseSettings):
    """Everything the service reads from its environment. Built once and passed around."""

    # Errors name the setting and the reason but not the value: some values are secrets.
    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore", hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP server listens on.")
    data_dir: Path = Field(Path(".hitl"), description="Folder for the embedded Postgres and Redis.")
    database_url: str | None = Field(
        None, description="Postgres URL; unset starts the embedded Postgres in data_dir."
    )
    redis_url: str | None = Field(
        None, description="Redis URL; unset starts the embedded Redis in data_dir."
    )
    graphs: str = Field(
        "graphs",
        description="Comma-separated modules to import (they register graphs with "
        "register_graph) and langgraph.json files (every graph they declare is served; "
        "see docs/langgraph-json.md).",
    )
    runner: bool = Field(True, description="Run graph runs in this process.")
    runner_concurrency: int = Field(16, ge=1, description="Graph runs executed at once.")
    run_lease_seconds: float = Field(
        30.0, gt=0, description="A running run not heartbeated for this long is taken over."
    )
    run_max_attempts: int = Field(
        3, ge=1, description="Attempts (crash takeovers included) before a run fails."
    )
    poll_interval: float = Field(
        1.0, gt=0, description="Seconds between run-queue polls when no notification comes."
    )
    max_waiters: int = Field(
        200,
        ge=1,
        description="Long polls (GET /threads/{id}/wait, ?wait=) and UI live-update streams "
        "open at once in this process; past it /wait answers 503 with Retry-After, ?wait= "
        "answers at once with the thread as it is, a stream asks the browser to come back later.",
    )
    mcp_wait_seconds: float = Field(
        45.0,
        ge=0,
        le=300,
        description="How long an MCP tool call (ask_human, request_approval, get_answer) waits "
        "for the answer before it returns {request_id, status: pending} for the agent to poll "
        "with get_answer (within MCP clients' usual 60 s request timeout).",
    )
    mcp_permission_wait_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="How long the MCP permission_prompt tool waits for a person's decision; "
        "then it denies, and withdraws the request, saying so.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1, description="Larger request bodies get 413.")
    max_json_depth: int = Field(
        64,
        ge=2,
        le=128,
        description="JSON bodies (and JSON in form fields) nested deeper than this get 422.",
    )
    db_pool_min: int = Field(2, ge=1, description="Postgres connections kept open.")
    db_pool_max: int = Field(20, ge=1, description="Postgres connections at most.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    webhook_delivery: bool = Field(True, description="Deliver webhooks in this process.")
    webhook_allow_networks: str = Field(
        "",
        description="Comma-separated CIDRs webhooks may reach although private, loopback, etc.",
    )
    webhook_retry_schedule: str = Field(
        "0,5,300,1800,7200,18000,36000,36000",
        description="Seconds before each attempt of a webhook (+-20% jitter); one per attempt.",
    )
    webhook_timeout: float = Field(15.0, gt=0, description="Seconds a webhook attempt may take.")
    webhook_concurrency: int = Field(16, ge=1, description="Webhook attempts in flight at once.")
    webhook_lease_seconds: float = Field(
        60.0, gt=0, description="A delivery whose worker stops renewing its lease is taken over."
    )
    webhook_disable_after_seconds: float = Field(
        5 * 86400.0,
        gt=0,
        description="An endpoint failing this long without a success is disabled.",
    )
    webhook_secret_grace_seconds: float = Field(
        86400.0, ge=0, description="After a rotation the old secret also signs for this long."
    )

    # identity (accounts, sessions and API keys; see hitl/auth/)
    session_ttl_seconds: float = Field(
        12 * 3600.0, gt=0, description="A browser session unused for this long ends."
    )
    session_max_age_seconds: float = Field(
        7 * 86400.0,
        gt=0,
        description="A browser session ends this long after sign-in, however much it is used.",
    )
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Mark the session cookie Secure (and name it __Host-hitl_session): auto "
        "does when the request came over HTTPS (behind a proxy, its X-Forwarded-Proto counts "
        "when the proxy is in HITL_FORWARDED_ALLOW_IPS) or HITL_PUBLIC_URL is https.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses or CIDRs of the proxies whose X-Forwarded-Proto "
        "and X-Forwarded-For are believed ('*': any; empty: none), for the scheme and the "
        "client address (sign-in throttling) behind a TLS-terminating proxy.",
    )
    signin_window_seconds: float = Field(
        900.0,
        gt=0,
        description="Failed sign-ins are counted in windows this long, from a key's first.",
    )
    signin_max_failures_per_user: int = Field(
        5, ge=1, description="Failed sign-ins to one username per window; then 429 until it ends."
    )
    signin_max_failures_per_address: int = Field(
        30,
        ge=1,
        description="Failed sign-ins from one client address (an IPv6 /64) per window; then 429.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="API key that `hitl agent` processes send to the service "
        "(HITLClient reads it too).",
    )

    # deadlines (every request has one; see hitl/deadlines.py and hitl/timers.py)
    request_timeout_seconds: float = Field(
        86400.0,
        gt=0,
        le=365 * 86400.0,
        description="A request's deadline when neither it nor its graph's registration sets one.",
    )
    request_on_timeout: dict[str, Any] = Field(
        default_factory=lambda: {"action": "expire", "thread": "fail"},
        description="What happens at the deadline when neither the request nor its graph's "
        "registration says (JSON: a default answer, an escalation or expiry).",
    )
    request_reminders: str = Field(
        "0.5,0.9",
        description="Reminders before the deadline, as comma-separated fractions of the time to "
        "it, when neither the request nor its graph's registration sets them; empty: none.",
    )

    forbid_self_approval: Literal["all", "external", "none"] = Field(
        "external",
        description="Which requests their requester may not answer (four-eyes): all, external "
        "ones only, or none; a graph's registration or the request itself may say otherwise.",
    )

    request_priority: Literal["low", "normal", "high", "urgent"] = Field(
        "normal",
        description="A request's priority when neither it nor its graph's registration sets one.",
    )
    due_soon_seconds: float = Field(
        4 * 3600.0,
        gt=0,
        description="The inbox's Due soon view: pending requests due within this many seconds.",
    )
    claim_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        le=30 * 86400.0,
        description="How long a claim on a request binds others (claiming again renews it).",
    )

    @field_validator("request_on_timeout")
    @classmethod
    def _check_on_timeout(cls, value: dict[str, Any]) -> dict[str, Any]:
        return policies.check_policy(value).model_dump(mode="json")

    @field_validator("request_reminders")
    @classmethod
    def _check_reminders(cls, value: str) -> str:
        policies.check_reminders(_floats(value))
        return value

    @property
    def reminder_fractions(self) -> list[float]:
        return policies.reminders_of(_floats(self.request_reminders))

    @field_validator("webhook_allow_networks")
    @classmethod
    def _check_networks(cls, value: str) -> str:
        for cidr in filter(None, (c.strip() for c in value.split(","))):
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for item in filter(None, (c.strip() for c in value.split(","))):
            if item == "*":
                continue
            # ValueError names the bad one; a network with host bits set is refused too, as
            # uvicorn would silently take it for a host name and trust nobody
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        return value

    @property
    def forwarded_proxies(self) -> list[str]:
        """``forwarded_allow_ips`` as a list, for uvicorn's ProxyHeadersMiddleware."""
        return [c.strip() for c in self.forwarded_allow_ips.split(",") if c.strip()]

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        delays = [float(d) for d in value.split(",") if d.strip()]
        if not delays or any(d < 0 for d in delays):
            raise ValueError("give one or more delays in seconds, none negative")
        return value

    @property
    def webhook_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        cidrs = (c.strip() for c in self.webhook_allow_networks.split(","))
        return [ipaddress.ip_network(c, strict=False) for c in cidrs if c]

    @property
    def webhook_schedule(self) -> list[float]:
        return [float(d) for d in self.webhook_retry_schedule.split(",") if d.strip()]

    @property
    def graph_modules(self) -> list[str]:
        """The entries of ``graphs``: module names, and paths ending in ``.json``."""
        return [m.strip() for m in self.graphs.split(",") if m.strip()]

    # bus (the event bus, workers and agents; see hitl/bus.py and hitl/agents/)
    bus_prefix: str = Field(
        "hitl:", description="Prefix of the event bus's Redis keys (the stream is <prefix>events)."
    )
    bus_claim_idle_seconds: float = Field(
        60.0, gt=0, description="An event a consumer holds this long unrenewed goes to another."
    )
    bus_max_deliveries: int = Field(
        5, ge=1, description="Deliveries of an event before it goes to the dead-letter stream."
    )
    bus_retention_seconds: float = Field(
        86400.0, gt=0, description="Events older than this are trimmed from the streams."
    )
    service_url: str = Field(
        "http://127.0.0.1:8000", description="The service's base URL, for `hitl agent` processes."
    )

    # run streams (streamed runs' chunks on Redis, for their SSE readers; see hitl/run_streams.py)
    stream_window: int = Field(
        10_000,
        ge=100,
        description="Chunks of a streamed run kept for its readers (a reconnect resumes within "
        "them; a reader further behind is told what it missed).",
    )
    stream_ttl_seconds: float = Field(
        3600.0, gt=0, description="How long a streamed run's chunks are kept after it ends."
    )

    # retention (what ages out and is deleted; see hitl/retention.py and `hitl prune`)
    retention_threads_seconds: float = Field(
        30 * 86400.0,
        ge=0,
        description="Completed and failed threads (checkpoints, runs, requests) are deleted "
        "after this long; 0 keeps them.",
    )
    retention_requests_seconds: float = Field(
        30 * 86400.0,
        ge=0,
        description="Settled requests of live threads are deleted after this long; 0 keeps them.",
    )
    retention_runs_seconds: float = Field(
        30 * 86400.0,
        ge=0,
        description="Finished runs of live threads are deleted after this long; 0 keeps them.",
    )
    retention_events_seconds: float = Field(
        7 * 86400.0,
        ge=0,
        description="Relayed outbox events are deleted after this long; 0 keeps them.",
    )
    retention_deliveries_seconds: float = Field(
        14 * 86400.0,
        ge=0,
        description="Succeeded and failed webhook deliveries (with their attempts) are deleted "
        "after this long; 0 keeps them.",
    )
    retention_audit_seconds: float = Field(
        365 * 86400.0, ge=0, description="Audit entries are deleted after this long; 0 keeps them."
    )
    retention_interval: float = Field(
        3600.0, ge=0, description="Seconds between pruning passes in the service; 0 turns it off."
    )
    retention_batch_size: int = Field(
        1000, ge=1, description="Rows (threads, for threads) deleted per pruning transaction."
    )
    log_format: Literal["auto", "json", "plain"] = Field(
        "auto",
        description="json, plain, or auto: plain lines on a terminal, else one JSON object a line.",
    )
    checkpoint_history_keep: int = Field(
        0,
        ge=0,
        description="Trim each resting thread's checkpoint history to its last N checkpoints; "
        "0 keeps it all.",
    )

    # operations (see hitl/workers.py and hitl/metrics.py)
    worker_heartbeat_seconds: float = Field(
        5.0,
        gt=0,
        le=20,
        description="Seconds between a process's heartbeats in hitl_workers (the Status page); "
        "at most 20, so that three fit in the minute the page looks back.",
    )
    metrics_dir: Path | None = Field(
        None,
        description="Folder where the service processes of one host write their metrics, so "
        "that each /metrics reports them all; unset: <data_dir>/metrics with the embedded "
        "Postgres, else each process its own.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="`hitl worker` serves its own /metrics on this port, at HITL_HOST.",
    )

    @property
    def shared_metrics_dir(self) -> Path | None:
        """The metrics folder this host's processes share, if any (see hitl/_metrics_dir.py)."""
        if self.metrics_dir is not None:
            return self.metrics_dir
        return self.data_dir / "metrics" if self.database_url is None else None

    # notifications (email over SMTP, Slack incoming webhooks; see hitl/notifications/)
    public_url: str | None = Field(
        None,
        description="The service's address as people reach it, for links in notifications; "
        "unset: http://127.0.0.1:<port>.",
    )
    smtp_host: str | None = Field(None, description="SMTP server for email; unset: no email.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "starttls",
        description="none (plain), starttls (upgrade the connection) or tls (TLS from the start).",
    )
    smtp_username: str | None = Field(None, description="SMTP user name; unset: no login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("hitl@localhost", description="The From address of notification emails.")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming-webhook URL; unset: no Slack messages."
    )
    # Slack app mode (hitl/notifications/slack_app.py): messages people answer in place.
    slack_bot_token: SecretStr | None = Field(
        None, description="Slack app's bot token (xoxb-...); set: Slack app mode."
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack app's signing secret, to verify its interactivity requests."
    )
    slack_channel: str | None = Field(
        None, description="Slack channel id for requests no route names; unset: none."
    )
    slack_routes: str = Field(
        "",
        description="Slack channels per graph or group: graph:<name>=<channel id>,"
        "group:<name>=<channel id>, comma-separated.",
    )
    slack_dm_assignees: bool = Field(
        True, description="Send a request's assignees a direct message (found by email)."
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack's Web API base URL (for a proxy or tests)."
    )

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not _is_http_url(value):
            raise ValueError("must be an http or https URL, e.g. https://hitl.example.com")
        return value

    @field_validator("smtp_host")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("slack_webhook_url")
    @classmethod
    def _check_slack_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not _is_http_url(value.get_secret_value().strip()):
            raise ValueError("must be an http or https URL")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("slack_bot_token", "slack_signing_secret")
    @classmethod
    def _blank_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("slack_api_url")
    @classmethod
    def _check_slack_api_url(cls, value: str) -> str:
        if not _is_http_url(value.strip()):
            raise ValueError("must be an http or https URL, e.g. https://slack.com/api/")
        return value.strip()

    @field_validator("slack_routes")
    @classmethod
    def _check_slack_routes(cls, value: str) -> str:
        for item in filter(None, (x.strip() for x in value.split(","))):
            key, eq, channel = item.partition("=")
            kind, colon, name = key.strip().partition(":")
            if not (eq and colon and kind in ("graph", "group") and name and channel.strip()):
                raise ValueError(
                    f"{item!r}: write graph:<name>=<channel id> or group:<name>=<channel id>"
                )
        return value

    @property
    def slack_route_map(self) -> dict[str, str]:
        """``{"graph:<name>" | "group:<name>": channel id}`` from ``slack_routes``."""
        found = {}
        for item in filter(None, (x.strip() for x in self.slack_routes.split(","))):
            key, _, channel = item.partition("=")
            kind, _, name = key.strip().partition(":")
            found[f"{kind}:{name.strip()}"] = channel.strip()
        return found

    @property
    def slack_app(self) -> bool:
        """Slack app mode: a bot token and a signing secret (answers come back signed)."""
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def link_base(self) -> str:
        """Where links in notifications point: ``public_url``, else this host and port."""
        return self.public_url or f"http://127.0.0.1:{self.port}"

    @property
    def recorded_channels(self) -> list[str]:
        """What this process records in ``hitl_notification_channels``: its channels, and
        ``slack_app`` in Slack app mode (whose messages are updated in place)."""
        return self.notification_channels + (["slack_app"] if self.slack_app else [])

    @property
    def notification_channels(self) -> list[str]:
        """The channels this process can send: ``email`` with an SMTP host, ``slack`` with a
        webhook URL or as a Slack app."""
        slack = self.slack_webhook_url is not None or self.slack_app
        return [c for c, on in (("email", self.smtp_host), ("slack", slack)) if on]


def from_environment() -> Settings:
    """``Settings()``; a value it cannot use raises `errors.BadSettings`, one line naming each
    variable and the reason (not the value: some are secrets), for the commands to print."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"HITL_{str(p['loc'][0]).upper()}: {_reason(p)}" if p["loc"] else _reason(p)
            for p in exc.errors()
        )
        raise errors.BadSettings(
            f"{problems} (correct the environment variable, or unset it for the default)"
        ) from None


def _reason(problem: ErrorDetails) -> str:
    # A validator's own words without pydantic's "Value error, " before them.
    return problem["msg"].removeprefix("Value error, ")


def _floats(value: str) -> list[float]:
    return [float(x) for x in value.split(",") if x.strip()]


def _is_http_url(value: str) -> bool:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)
