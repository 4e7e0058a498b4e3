"""Validation of graph inputs and human answers, with errors that name the field.

Errors use FastAPI's shape, ``[{"loc": [...], "msg": ..., "type": ...}]``, so a client sees one
format for every 422 the service returns.

Response schemas come from callers (external requests) and answers from people, so evaluating
one must take time linear in both: the ``pattern`` and ``patternProperties`` keywords (and
``additionalProperties``, which matches property names against the latter) run on RE2, not on
Python's backtracking ``re``, where ``^(a+)+$`` against a long answer stalls the event loop.
A schema given over the API must compile under RE2 (no backreferences, no lookaround), else
422; a graph's own ``response_schema`` is the graph author's code and is recorded as it is: a
pattern in it that RE2 cannot compile is not checked by the service (a warning is logged), and
the graph's own validation of the resume value still applies. One that is not a JSON Schema at
all (`unusable`: ``{"type": 5}``, a ``$ref`` resolving nowhere) is recorded aside, in the
request's metadata, and the request is answered as a value without a schema (`hitl.runner`);
a schema that fails only when an answer reaches the broken part refuses that answer (422,
``type: schema``), never a 5xx. ``unevaluatedProperties`` is not
checked in a schema that also has ``patternProperties`` (jsonschema matches those with ``re``),
and such a schema is refused over the API.

Values nested deeper than `MAX_DEPTH` cannot be serialised by pydantic (the API's responses),
so what a graph stores is cut at that depth (`to_json`), and so is what the models read back
(`clip`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import re2  # type: ignore[import-untyped]  # google-re2 ships no types
import referencing.exceptions
from jsonschema.validators import extend, validator_for
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from hitl import errors

log = logging.getLogger("hitl.schemas")

ErrorList = list[dict[str, Any]]

#: Deepest nesting of arrays and objects the service stores and returns; deeper parts are cut
#: and replaced with `CUT`. Pydantic serialises at most ~250 levels, minus the response's own.
MAX_DEPTH = 200
CUT = f"<nested deeper than {MAX_DEPTH} levels: cut>"
#: Answers nested deeper than this are refused (``HITL_MAX_JSON_DEPTH`` bounds API bodies; the
#: web UI's JSON fields are parsed from form text).
MAX_ANSWER_DEPTH = 128

_SURROGATE = re.compile("[\ud800-\udfff]")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def to_json(value: Any) -> Any:
    """Plain JSON data for anything a graph put in its state or an interrupt, cut at
    `MAX_DEPTH` (deeper values could be stored but never listed) and without what ``jsonb``
    cannot hold (`unstorable`), so that a graph's values cannot fail the statement that
    records its run."""
    try:
        plain = to_jsonable_python(value, fallback=repr)
    except ValueError:  # nested deeper than pydantic serialises: cut the containers first
        plain = to_jsonable_python(_cut_python(value, MAX_DEPTH, ()), fallback=repr)
    plain = clip(plain)
    return plain if unstorable(plain) is None else _scrub(plain)


def _scrub(value: Any) -> Any:
    """``value`` (plain JSON, at most `MAX_DEPTH` deep) as ``jsonb`` stores it: NUL and lone
    surrogates replaced by U+FFFD, NaN and infinities as strings (``"nan"``, ``"inf"``)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", "\ufffd"))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _cut_python(value: Any, room: int, path: tuple[int, ...]) -> Any:
    container = isinstance(value, Mapping | list | tuple | set | frozenset)
    if container and (room <= 0 or id(value) in path):
        return CUT
    if isinstance(value, Mapping):
        inner = (*path, id(value))
        return {k: _cut_python(v, room - 1, inner) for k, v in value.items()}
    if container:
        inner = (*path, id(value))
        return [_cut_python(v, room - 1, inner) for v in value]
    try:
        return to_jsonable_python(value, fallback=repr)
    except ValueError:
        return CUT


def depth(value: Any, limit: int) -> int:
    """How deep arrays and objects nest in ``value`` (plain JSON), counting no further than
    ``limit + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level) for child in children)
    return deepest


def clip(value: Any, limit: int = MAX_DEPTH) -> Any:
    """``value`` (plain JSON) with every array or object nested deeper than ``limit`` replaced
    by `CUT`; ``value`` itself when nothing is that deep (the usual case, checked first)."""
    if depth(value, limit) <= limit:
        return value
    return _cut_json(value, limit)


def _cut_json(value: Any, room: int) -> Any:
    if isinstance(value, dict | list) and room <= 0:
        return CUT
    if isinstance(value, dict):
        return {k: _cut_json(v, room - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_json(v, room - 1) for v in value]
    return value


def unstorable(value: Any) -> tuple[list[str | int], str] | None:
    """Where plain JSON ``value`` holds what Postgres cannot store in ``jsonb`` (NUL, a lone
    surrogate, NaN or an infinite number), and what: the first found, or ``None``."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = _bad_text(item)
            if problem:
                return path, problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "must be a finite number"
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _bad_text(key) if isinstance(key, str) else None
                if problem:
                    return path, f"a key {problem.removeprefix('must ')}"
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, i]) for i, child in enumerate(item))
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    if _SURROGATE.search(text):
        return "must not contain a lone surrogate (U+D800 to U+DFFF)"
    return None


def _compiled(pattern: str) -> Any:
    """The RE2 program for ``pattern``, or ``None`` if RE2 cannot compile it (short patterns
    are cached; a long one is not kept, so no caller can fill the cache with megabytes)."""
    return _compiled_short(pattern) if len(pattern) <= 1_000 else _compile(pattern)


@functools.lru_cache(maxsize=512)
def _compiled_short(pattern: str) -> Any:
    return _compile(pattern)


def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return None


def _search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` matches somewhere in ``text`` (JSON Schema patterns are not
    anchored), in linear time; ``None`` if RE2 cannot compile the pattern."""
    program = _compiled(pattern)
    if program is None:
        _warn_unsupported(pattern[:200])
        return None
    return program.search(text) is not None


@functools.lru_cache(maxsize=512)
def _warn_unsupported(pattern: str) -> None:
    log.warning("response schema pattern %r is not RE2 syntax: not checked", pattern)


def _short(text: str) -> str:
    """``text`` quoted for a message, cut to 100 characters (it may be megabytes long)."""
    return repr(text) if len(text) <= 100 else repr(text[:100]) + "..."


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and _search(pattern, instance) is False:
        yield jsonschema.ValidationError(f"{_short(instance)} does not match {_short(pattern)}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in properties and not any(_search(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        joined = ", ".join(repr(each) for each in sorted(extras))
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            listed = ", ".join(repr(each) for each in sorted(patterns))
            yield jsonschema.ValidationError(
                f"{joined} {verb} not match any of the regexes: {listed}"
            )
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield jsonschema.ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


@functools.cache
def _linear(cls: Any) -> Any:
    """``cls`` with its regular expressions evaluated by RE2."""
    keywords = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    unevaluated = cls.VALIDATORS.get("unevaluatedProperties")
    if unevaluated is not None:

        def _unevaluated_properties(
            validator: Any, value: Any, instance: Any, schema: Any
        ) -> Iterator[Any]:
            # jsonschema matches patternProperties with ``re`` there: not checked (such a
            # schema is refused over the API)
            if not _has_keyword(schema, "patternProperties"):
                yield from unevaluated(validator, value, instance, schema)

        keywords["unevaluatedProperties"] = _unevaluated_properties
    return extend(cls, keywords)  # type: ignore[no-untyped-call]


def _has_keyword(schema: Any, keyword: str) -> bool:
    """Whether ``keyword`` is a key of any object in ``schema`` (walked without recursion)."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if keyword in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _patterns(
    schema: Any, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every regular expression of ``schema``: ``pattern`` values and ``patternProperties``
    keys, with where they are (walked without recursion; the body's depth is bounded)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(schema, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                yield (*where, "pattern"), item["pattern"]
            pattern_properties = item.get("patternProperties")
            if isinstance(pattern_properties, dict):
                for key in pattern_properties:
                    yield (*where, "patternProperties", key), key
            stack.extend(
                (v, (*where, k))
                for k, v in item.items()
                if k not in ("const", "enum", "default", "examples")
            )
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))


def schema_errors(schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]) -> ErrorList:
    """Every way ``value`` breaks the JSON Schema, each located under ``loc``.

    A schema that is a ``oneOf`` (or ``anyOf``) with a ``discriminator`` (pydantic's tagged
    unions: langchain's per-call tool decisions) is checked against the branch the value's tag
    names, so an error names the field that is wrong rather than saying that no branch fits.
    """
    branch = _tagged_branch(schema, value, loc)
    if isinstance(branch, list):
        return branch
    schema = branch
    found = []
    try:
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = _linear(cls)(schema, format_checker=cls.FORMAT_CHECKER)
        errors_found = list(validator.iter_errors(value))
    except _SCHEMA_FAILURES as exc:
        return [{"loc": list(loc), "msg": _unusable(exc), "type": "schema"}]
    for error in sorted(errors_found, key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.validator_value, list):
            # jsonschema reports a missing property at its parent; name the property itself.
            present = error.instance if isinstance(error.instance, dict) else {}
            missing = [p for p in error.validator_value if p not in present]
            path += missing[:1]
        found.append({"loc": [*loc, *path], "msg": error.message, "type": str(error.validator)})
    return found


def _tagged_branch(
    schema: dict[str, Any], value: Any, loc: tuple[str | int, ...]
) -> dict[str, Any] | ErrorList:
    """``schema`` narrowed to the branch its root ``discriminator`` picks for ``value``; an
    error at the tag when the tag is not one of the mapping's; else ``schema`` as it is."""
    tagging = schema.get("discriminator")
    key = "oneOf" if "oneOf" in schema else "anyOf"
    if not (
        isinstance(tagging, dict)
        and isinstance(tagging.get("propertyName"), str)
        and isinstance(tagging.get("mapping"), dict)
        and isinstance(schema.get(key), list)
        and isinstance(value, dict)
    ):
        return schema
    name, mapping = tagging["propertyName"], tagging["mapping"]
    tag = value.get(name)
    if not isinstance(tag, str) or tag not in mapping:
        allowed = ", ".join(sorted(str(t) for t in mapping))
        what = "is required" if name not in value else f"must be one of: {allowed}"
        kind = "required" if name not in value else "discriminator"
        return [{"loc": [*loc, name], "msg": what, "type": kind}]
    if not isinstance(mapping[tag], str):
        return schema
    rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
    return {**rest, "$ref": mapping[tag]}


# What evaluating a schema that is not a valid JSON Schema can raise: an unknown type name, a
# $ref resolving nowhere or to itself without end, a keyword whose value is of the wrong kind.
_SCHEMA_FAILURES = (
    jsonschema.exceptions.UnknownType,
    referencing.exceptions.Unresolvable,
    RecursionError,
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
)


def _metaschema_errors(schema: Any, loc: tuple[str | int, ...]) -> ErrorList:
    if not isinstance(schema, dict):
        return [{"loc": list(loc), "msg": "must be a JSON Schema object", "type": "type"}]
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [{"loc": [*loc, *exc.absolute_path], "msg": exc.message, "type": "schema"}]
    except _SCHEMA_FAILURES as exc:  # a "$schema" that names no draft, say
        return [{"loc": list(loc), "msg": _unusable(exc), "type": "schema"}]
    return []


def _probe_errors(schema: dict[str, Any], loc: tuple[str | int, ...]) -> ErrorList:
    """A $ref that resolves nowhere, or to itself without end, fails only when validation
    reaches it: try the simplest answers so that the usual mistakes are found up front."""
    for probe in _PROBES:
        problems = schema_errors(schema, probe, loc)
        if any(p["type"] == "schema" for p in problems):
            return [p for p in problems if p["type"] == "schema"][:1]
    return []


#: A graph schema's text up to this size is remembered with its verdict (`unusable`).
_REMEMBERED_SCHEMA = 20_000


def unusable(schema: Any) -> str | None:
    """Why a graph's own ``response_schema`` cannot be used to check answers (not a JSON
    Schema, or a $ref resolving nowhere), or ``None``. Patterns that RE2 cannot compile do not
    count: those are left unchecked (see the module's docstring).

    A graph asks with the same schema again and again, and checking it against the
    metaschema is a good part of recording a request: a small schema's verdict is kept."""
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        return _why_unusable(schema)
    if len(text) > _REMEMBERED_SCHEMA:
        return _why_unusable(schema)
    return _unusable_remembered(text)


@functools.lru_cache(maxsize=256)
def _unusable_remembered(text: str) -> str | None:
    return _why_unusable(json.loads(text))


def _why_unusable(schema: Any) -> str | None:
    problems = _metaschema_errors(schema, ())
    if not problems:
        problems = _probe_errors(schema, ())
    if not problems:
        return None
    where = ".".join(str(part) for part in problems[0]["loc"])
    return f"{where}: {problems[0]['msg']}" if where else str(problems[0]["msg"])


def check_schema(schema: Any, loc: tuple[str | int, ...]) -> ErrorList:
    """Errors if ``schema`` is not itself a usable JSON Schema."""
    found: ErrorList = _metaschema_errors(schema, loc)
    if found:
        return found
    for where, pattern in _patterns(schema, loc):
        if _compiled(pattern) is None:
            found.append(
                {
                    "loc": list(where),
                    "msg": f"{_short(pattern)} is not a regular expression this service evaluates: "
                    "RE2 syntax, without backreferences or lookaround",
                    "type": "pattern",
                }
            )
    if _has_keyword(schema, "unevaluatedProperties") and _has_keyword(schema, "patternProperties"):
        found.append(
            {
                "loc": list(loc),
                "msg": "unevaluatedProperties cannot be combined with patternProperties",
                "type": "schema",
            }
        )
    return found or _probe_errors(schema, loc)


_PROBES: tuple[Any, ...] = (None, True, 0, 0.5, "", [], {}, [{}], {"": {}})


def _unusable(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "the response schema cannot be evaluated: a $ref refers to itself without end"
    if isinstance(exc, jsonschema.exceptions.UnknownType):
        return f"the response schema cannot be evaluated: {exc.type!r} is not a JSON type"
    return f"the response schema cannot be evaluated: {str(exc)[:200]}"


def validate_response(
    schema: dict[str, Any] | None, value: Any, loc: tuple[str | int, ...]
) -> None:
    """Raise `errors.ResponseInvalid` if the answer breaks the request's response schema, or
    nests deeper than `MAX_ANSWER_DEPTH` (the web UI parses JSON fields from form text)."""
    if depth(value, MAX_ANSWER_DEPTH) > MAX_ANSWER_DEPTH:
        raise errors.ResponseInvalid(
            [
                {
                    "loc": list(loc),
                    "msg": f"nested deeper than {MAX_ANSWER_DEPTH} levels",
                    "type": "json_depth",
                }
            ]
        )
    bad = unstorable(value)
    if bad is not None:
        where, problem = bad
        raise errors.ResponseInvalid([{"loc": [*loc, *where], "msg": problem, "type": "value"}])
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
