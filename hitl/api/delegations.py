"""``/api/v1/me/delegation``, ``/api/v1/users/{username}/delegation`` and
``/api/v1/delegations``: who answers for a person while they are away (`hitl.delegation`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hitl import delegation
from hitl.api.deps import Admin, Person, ServiceDep

router = APIRouter(prefix="/api/v1", tags=["delegation"])


@router.get("/me/delegation", response_model=delegation.Delegation | None)
async def my_delegation(principal: Person, service: ServiceDep) -> delegation.Delegation | None:
    """One's delegation (null: none)."""
    async with service.pool.connection() as conn:
        return await delegation.get(conn, principal.name)


@router.put("/me/delegation", response_model=delegation.Delegation)
async def delegate_mine(
    body: delegation.DelegationSet, principal: Person, service: ServiceDep
) -> delegation.Delegation:
    """Set (or replace) one's delegation: ``{"delegate": "bo", "from": ..., "until": ...}``.
    422 naming the field for oneself, an unknown delegate, a time without a zone, an end not
    after the start, or a window over a year."""
    async with service.pool.connection() as conn:
        return await delegation.put(conn, principal.name, body, principal.name)


@router.delete("/me/delegation", status_code=204)
async def clear_mine(principal: Person, service: ServiceDep) -> Response:
    async with service.pool.connection() as conn:
        await delegation.clear(conn, principal.name, principal.name)
    return Response(status_code=204)


@router.get("/delegations", response_model=list[delegation.Delegation])
async def open_delegations(_: Admin, service: ServiceDep) -> list[delegation.Delegation]:
    """The delegations open now or starting later, soonest first (at most 500)."""
    async with service.pool.connection() as conn:
        return await delegation.open_ones(conn)


@router.get("/users/{username}/delegation", response_model=delegation.Delegation | None)
async def delegation_of(
    username: str, _: Admin, service: ServiceDep
) -> delegation.Delegation | None:
    """Someone's delegation (null: none)."""
    async with service.pool.connection() as conn:
        return await delegation.get(conn, username)


@router.put("/users/{username}/delegation", response_model=delegation.Delegation)
async def delegate_for(
    username: str, body: delegation.DelegationSet, principal: Admin, service: ServiceDep
) -> delegation.Delegation:
    """An admin sets someone's delegation (404 for an unknown user)."""
    async with service.pool.connection() as conn:
        return await delegation.put(conn, username, body, principal.name)


@router.delete("/users/{username}/delegation", status_code=204)
async def clear_for(username: str, principal: Admin, service: ServiceDep) -> Response:
    async with service.pool.connection() as conn:
        await delegation.clear(conn, username, principal.name)
    return Response(status_code=204)
