"""A `Principal` is whoever a request acts as: a signed-in person, an API key, or the system.

Roles are sets of scopes; a key carries its scopes itself. ``*`` is every scope (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from hitl.models import Request

SCOPES: Final[dict[str, str]] = {
    "threads:read": "list and read threads and graphs",
    "threads:write": "start threads",
    "requests:read": "list and read requests",
    "requests:write": "create external requests, reassign requests",
    "requests:answer": "answer requests",
    "webhooks:admin": "manage webhook endpoints and their deliveries",
    "audit:read": "read the audit log",
    "admin": "manage users and API keys, read the status page",
}
ALL: Final = "*"

ROLES: Final = ("admin", "responder", "viewer")
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "viewer": frozenset({"threads:read", "requests:read"}),
    "responder": frozenset({"threads:read", "requests:read", "requests:answer"}),
    "admin": frozenset({ALL}),
}

Kind = Literal["user", "key", "system"]


@dataclass(frozen=True)
class Principal:
    kind: Kind
    #: The name written to the audit log and ``responded_by``: the username, ``key:<name>``
    #: for an API key, ``system:<what>`` for the service itself.
    name: str
    scopes: frozenset[str]
    role: str | None = None
    groups: frozenset[str] = frozenset()
    user_id: int | None = None
    display_name: str = ""
    #: The session's CSRF token (browser sessions only).
    csrf_token: str | None = None
    #: The key's row id (API keys only).
    key_id: int | None = None

    @property
    def subject(self) -> str:
        """A stable identity that no other principal shares: ``user:<id>``, ``key:<id>`` or
        ``system:<what>``. ``name`` is for people to read; two keys may share a name, and a
        user name may be taken again after its user is deleted, so ownership, idempotency
        records and the like are keyed by this."""
        if self.kind == "user" and self.user_id is not None:
            return f"user:{self.user_id}"
        if self.kind == "key" and self.key_id is not None:
            return f"key:{self.key_id}"
        return self.name

    @property
    def is_admin(self) -> bool:
        return ALL in self.scopes

    def has(self, scope: str) -> bool:
        return ALL in self.scopes or scope in self.scopes

    def may_answer(self, request: Request) -> bool:
        """Admins always; otherwise the ``requests:answer`` scope, and for an assigned request
        being an assignee or a member of an assigned group. An API key with the scope acts as
        an integration the admin trusted with answers, so assignment does not bind it."""
        if self.is_admin:
            return True
        if not self.has("requests:answer"):
            return False
        if self.kind != "user" or not (request.assignees or request.assigned_groups):
            return True
        return self.name in request.assignees or bool(self.groups & set(request.assigned_groups))


def for_user(
    *,
    user_id: int,
    username: str,
    role: str,
    groups: frozenset[str] = frozenset(),
    display_name: str = "",
    csrf_token: str | None = None,
) -> Principal:
    return Principal(
        kind="user",
        name=username,
        scopes=ROLE_SCOPES.get(role, frozenset()),
        role=role,
        groups=groups,
        user_id=user_id,
        display_name=display_name or username,
        csrf_token=csrf_token,
    )
