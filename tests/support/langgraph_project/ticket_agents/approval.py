"""Shared by the project's graphs; importable because "dependencies" names the project."""

from typing import Literal

from pydantic import BaseModel


class Approval(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str | None = None
