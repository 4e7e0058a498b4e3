"""Validation of graph inputs and human answers, with errors that name the field.

Errors use FastAPI's shape, ``[{"loc": [...], "msg": ..., "type": ...}]``, so a client sees one
format for every 422 the service returns.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.validators import validator_for
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from hitl import errors

ErrorList = list[dict[str, Any]]


def to_json(value: Any) -> Any:
    """Plain JSON data for anything a graph put in its state or an interrupt."""
    return to_jsonable_python(value, fallback=repr)


def schema_errors(schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> ErrorList:
    """Every way ``value`` breaks the JSON Schema, each located under ``loc``."""
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    found = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.validator_value, list):
            # jsonschema reports a missing property at its parent; name the property itself.
            present = error.instance if isinstance(error.instance, dict) else {}
            missing = [p for p in error.validator_value if p not in present]
            path += missing[:1]
        found.append({"loc": [*loc, *path], "msg": error.message, "type": str(error.validator)})
    return found


def check_schema(schema: Any, loc: tuple[str | int, ...]) -> ErrorList:
    """Errors if ``schema`` is not itself a usable JSON Schema."""
    if not isinstance(schema, dict):
        return [{"loc": list(loc), "msg": "must be a JSON Schema object", "type": "type"}]
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [{"loc": [*loc, *exc.absolute_path], "msg": exc.message, "type": "schema"}]
    return []


def validate_response(
    schema: dict[str, Any] | None, value: Any, loc: tuple[str | int, ...]
) -> None:
    """Raise `errors.ResponseInvalid` if the answer breaks the request's response schema."""
    if schema:
        found = schema_errors(schema, value, loc)
        if found:
            raise errors.ResponseInvalid(found)


def validate_input(adapter: TypeAdapter[Any] | None, value: Any) -> Any:
    """The input as the graph's input schema reads it (defaults filled in), as plain JSON.

    Raises `errors.InvalidInput` if the schema rejects ``value``.
    """
    if not isinstance(value, dict):
        raise errors.InvalidInput(
            [{"loc": ["body", "input"], "msg": "must be an object", "type": "dict_type"}]
        )
    if adapter is None:
        return value
    try:
        validated = adapter.validate_python(value)
    except ValidationError as exc:
        raise errors.InvalidInput(
            [
                {"loc": ["body", "input", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None
    except TypeError:
        # Schemas pydantic cannot apply to plain JSON (e.g. langchain message unions that the
        # graph itself coerces from dicts): the graph validates its input when it runs.
        return value
    return to_json(adapter.dump_python(validated, mode="json"))
