"""``/lg/assistants``: every registered graph is one assistant, read-only.

The Agent Server keeps assistants in its database, with versions, configs and contexts made
over its API. Here the graphs are registered in code (`hitl.registry`), so each is exactly one
assistant, with the Agent Server's own id for it (`hitl.registry.assistant_id`), named by that id or
by its graph id. Creating, changing, deleting or versioning one answers 501
(`hitl.agent_server.unsupported`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from langgraph.pregel import Pregel
from pydantic import BaseModel, TypeAdapter, create_model

from hitl import errors
from hitl.agent_server import mapping
from hitl.agent_server.bodies import AssistantCount, AssistantSearch
from hitl.api.deps import CanReadThreads, ServiceDep
from hitl.registry import GraphSpec
from hitl.service import Service

router = APIRouter(prefix="/assistants", tags=["agent server: assistants"])

# Keys of a graph's configurable that are LangGraph's, not the graph author's (as the Agent
# Server leaves them out of config_schema).
_INTERNAL_CONFIG = ("__pregel_checkpointer", "__pregel_store", "checkpoint_id", "checkpoint_ns")


@router.post("/search")
async def search_assistants(
    body: AssistantSearch, service: ServiceDep, _: CanReadThreads, response: Response
) -> list[dict[str, Any]]:
    """Registered graphs as assistants, filtered as the Agent Server filters them."""
    found = _matching(service, body.graph_id, body.name, body.metadata)
    key = body.sort_by or "created_at"
    found.sort(key=lambda a: (str(a[key]), a["assistant_id"]), reverse=body.sort_order == "desc")
    page = found[body.offset : body.offset + body.limit]
    response.headers["X-Pagination-Total"] = str(len(found))
    if body.offset + body.limit < len(found):
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
    if body.select:
        page = [{k: v for k, v in a.items() if k in body.select} for a in page]
    return page


@router.post("/count")
async def count_assistants(body: AssistantCount, service: ServiceDep, _: CanReadThreads) -> int:
    return len(_matching(service, body.graph_id, body.name, body.metadata))


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: str, service: ServiceDep, _: CanReadThreads) -> Any:
    return mapping.assistant(mapping.graph_of(service.registry, assistant_id))


@router.get("/{assistant_id}/schemas")
async def get_assistant_schemas(assistant_id: str, service: ServiceDep, _: CanReadThreads) -> Any:
    """The graph's JSON Schemas: its input as the service validates it (`GraphSpec.input_adapter`),
    the rest as LangGraph's compiled graph gives them; null where a schema cannot be made."""
    spec = mapping.graph_of(service.registry, assistant_id)
    async with _graph(service, spec) as graph:
        return {"graph_id": spec.name, **_schemas(spec, graph)}


@router.get("/{assistant_id}/graph")
async def get_assistant_graph(
    assistant_id: str,
    service: ServiceDep,
    _: CanReadThreads,
    xray: Annotated[
        str,
        Query(description="true, false, or how many levels of subgraphs to draw (1 or more)."),
    ] = "false",
) -> Any:
    """The graph's drawing as LangGraph's ``get_graph().to_json()`` gives it."""
    depth = _xray(xray)
    spec = mapping.graph_of(service.registry, assistant_id)
    async with _graph(service, spec) as graph:
        try:
            drawing = (await graph.aget_graph(xray=depth)).to_json()
        except NotImplementedError:
            raise errors.InvalidInput(f"graph {spec.name!r} cannot be drawn") from None
    for node in drawing.get("nodes", []):
        if isinstance(data := node.get("data"), dict):
            data.pop("id", None)  # a Python object's import path: the Agent Server drops it too
    return drawing


@router.get("/{assistant_id}/subgraphs")
async def get_assistant_subgraphs(
    assistant_id: str, service: ServiceDep, _: CanReadThreads, recurse: bool = False
) -> Any:
    return await _subgraphs(service, assistant_id, None, recurse)


@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_assistant_subgraphs_in(
    assistant_id: str, namespace: str, service: ServiceDep, _: CanReadThreads, recurse: bool = False
) -> Any:
    return await _subgraphs(service, assistant_id, namespace, recurse)


async def _subgraphs(
    service: Service, assistant_id: str, namespace: str | None, recurse: bool
) -> dict[str, Any]:
    """The schemas of the graph's subgraphs by namespace ({} for a graph without any)."""
    spec = mapping.graph_of(service.registry, assistant_id)
    async with _graph(service, spec) as graph:
        return {
            ns: _schemas(None, subgraph)
            async for ns, subgraph in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
        }


def _matching(
    service: Service, graph_id: str | None, name: str | None, metadata: dict[str, Any] | None
) -> list[dict[str, Any]]:
    found = [mapping.assistant(service.registry.get(n)) for n in service.registry.names()]
    return [
        a
        for a in found
        if (graph_id is None or a["graph_id"] == graph_id)
        and (name is None or name.lower() in a["name"].lower())
        and all(a["metadata"].get(k) == v for k, v in (metadata or {}).items())
    ]


def _xray(value: str) -> bool | int:
    if value in ("true", "True"):
        return True
    if value in ("false", "False", ""):
        return False
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise errors.InvalidInput(
        [
            {
                "loc": ["query", "xray"],
                "msg": "xray is true, false or a number of levels (1 or more)",
                "type": "value_error",
            }
        ]
    )


@contextlib.asynccontextmanager
async def _graph(service: Service, spec: GraphSpec) -> AsyncIterator[Pregel[Any, Any]]:
    """The graph, compiled (a per-run factory's made for an empty config)."""
    async with service.graphs.for_run(spec.name, {"configurable": {}}) as graph:
        if graph is None:
            raise errors.GraphNotFound(spec.name)
        yield graph


def _schemas(spec: GraphSpec | None, graph: Any) -> dict[str, Any]:
    """The schemas of ``graph``, a compiled graph or a subgraph (any `PregelProtocol`)."""
    adapter = spec.input_adapter if spec is not None else None
    return {
        "input_schema": _attempt(
            adapter.json_schema if adapter is not None else graph.get_input_jsonschema
        ),
        "output_schema": _attempt(graph.get_output_jsonschema),
        "state_schema": _attempt(lambda: _state_schema(graph)),
        "config_schema": _attempt(lambda: _config_schema(graph)),
        "context_schema": _attempt(graph.get_context_jsonschema),
    }


def _attempt(make: Any) -> dict[str, Any] | None:
    """A schema, or None when LangGraph or pydantic cannot make one (exotic state types)."""
    try:
        found = make()
    except Exception:
        return None
    return found if isinstance(found, dict) else None


def _state_schema(graph: Any) -> dict[str, Any]:
    """The graph's channels, each with the type of its updates (Any where it has no schema), as
    the Agent Server describes a state."""
    fields: dict[str, Any] = {}
    for key in graph.stream_channels_list:
        update = getattr(graph.channels[key], "UpdateType", Any)
        try:
            TypeAdapter(update).json_schema()
            fields[key] = (update, None)
        except Exception:
            fields[key] = (Any, None)
    model: type[BaseModel] = create_model(graph.get_name("State"), **fields)
    return model.model_json_schema()


def _config_schema(graph: Any) -> dict[str, Any]:
    """The schema of the graph's ``configurable`` (not the whole config), without LangGraph's
    own keys."""
    with warnings.catch_warnings():  # deprecated since LangGraph 1.0, still what it is
        warnings.simplefilter("ignore")
        config = graph.config_schema()
    field = getattr(config, "model_fields", {}).get("configurable")
    if field is None:
        return {}
    schema: dict[str, Any] = TypeAdapter(field.annotation).json_schema()
    for key in (*_INTERNAL_CONFIG, "thread_id"):
        schema.get("properties", {}).pop(key, None)
    return schema
