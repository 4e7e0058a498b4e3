"""``/api/v1/graphs``: the graphs this service runs, with their input schemas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hitl.api.deps import CanReadThreads, ServiceDep

router = APIRouter(prefix="/api/v1/graphs", tags=["graphs"])


@router.get("")
async def list_graphs(service: ServiceDep, _: CanReadThreads) -> list[dict[str, Any]]:
    """Registered graphs: name, description, durability and the JSON Schema of their input."""
    found = []
    for name in service.registry.names():
        spec = service.registry.get(name)
        adapter = spec.input_adapter
        found.append(
            {
                "name": name,
                "description": spec.description.strip(),
                "durability": spec.durability,
                "input_schema": adapter.json_schema() if adapter is not None else None,
            }
        )
    return found
