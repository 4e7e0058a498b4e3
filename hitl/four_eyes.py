"""Four-eyes: the person who asked for a request may not be the one who approves it.

A request records who asked (`Request.requested_by`): the user or API key that started its
thread, or that created it (an external request); and, where a graph or an agent acts for
someone, that person (``on_behalf_of``: the interrupt value's field, or the external
request's). With ``forbid_self_approval`` (from the interrupt value, else the graph's
registration, else ``HITL_FORBID_SELF_APPROVAL``: on for external requests by default), an
answer from any of them is refused with 403 at the one answer path (`hitl.requests`), so every
door refuses it alike. Admins are no exception: four eyes are the point. The service's own
answers (a deadline's default) are not a person's and pass.

The requester is matched by identity (`Principal.subject`), not by name: a user name can be
taken again after its user is deleted, and two API keys may share a name. ``on_behalf_of`` is a
username the graph gives, so it is matched by name, and only against users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hitl.auth.principal import Principal
    from hitl.models import Request


def is_requester(by: Principal, request: Request) -> bool:
    """Whether ``by`` asked for ``request`` (started its thread, created it, or is the person
    it was asked for)."""
    if request.requested_by_subject is not None and by.subject == request.requested_by_subject:
        return True
    behalf = request.on_behalf_of
    return by.kind == "user" and behalf is not None and by.name == behalf


def refuses_for(username: str, request: Request) -> bool:
    """Whether four-eyes refuses an answer given for ``username`` (a delegate's,
    `hitl.delegation`): one may not approve one's own request through a stand-in either."""
    return request.forbid_self_approval and username in (
        request.on_behalf_of,
        request.requested_by,
    )


def refuses(by: Principal, request: Request) -> bool:
    """Whether four-eyes refuses an answer from ``by`` to ``request``."""
    return request.forbid_self_approval and is_requester(by, request)
