"""Settings: one pydantic-settings class, read from ``HITL_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service reads from its environment. Built once and passed around."""

    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore")

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
        "graphs", description="Comma-separated modules to import; they register the graphs."
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
    max_body_bytes: int = Field(1_000_000, ge=1, description="Larger request bodies get 413.")
    db_pool_min: int = Field(2, ge=1, description="Postgres connections kept open.")
    db_pool_max: int = Field(20, ge=1, description="Postgres connections at most.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )

    @property
    def graph_modules(self) -> list[str]:
        return [m.strip() for m in self.graphs.split(",") if m.strip()]
