"""Answer forms generated from a request's response schema (JSON Schema), and back again.

`fields_from_schema` turns a schema into a list of `Field`s the templates render as HTML
controls; `value_from_form` turns the submitted form (every value a string) into the JSON value
the schema describes. Validation stays where it is for every client (`hitl.validation`): this
module only coerces, and reports what it cannot coerce (``"abc"`` for a number, broken JSON).

Pydantic-generated schemas are understood: ``$ref`` into ``$defs``, ``anyOf`` with ``null`` for
``Optional``, ``enum`` / ``const`` (``Literal``), ``default``, ``title`` and ``description``.
Anything the form cannot express (unions of objects, arrays of objects, free-form objects)
becomes a JSON text area for that field alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hitl import errors

Kind = Literal[
    "radio",  # enum of up to MAX_RADIOS options
    "select",  # longer enums
    "checkbox",  # boolean
    "checkboxes",  # array of enum values: pick several
    "text",  # short string (input type from the format)
    "textarea",  # long string
    "number",  # number or integer
    "lines",  # array of primitives, one per line
    "fieldset",  # nested object
    "json",  # anything else, typed as JSON
]

MAX_RADIOS = 5
LONG_TEXT = 200  # strings that may be longer than this get a text area
ROOT_NAME = "value"  # the control's name when the schema is not an object
_MAX_DEPTH = 12
_FORMATS = {"email": "email", "uri": "url", "url": "url", "date": "date", "time": "time"}

FormData = Mapping[str, str | Sequence[str]]


@dataclass
class Option:
    value: str  # as sent by the browser
    label: str
    data: Any  # the JSON value it stands for


@dataclass
class Field:
    """One control (or a fieldset of them) of an answer form."""

    name: str  # the HTML control name: the property path joined with "."
    path: tuple[str, ...]
    kind: Kind
    label: str
    description: str | None = None
    required: bool = False
    nullable: bool = False
    default: Any = None
    has_default: bool = False
    options: list[Option] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)  # HTML attributes: min, maxlength, ...
    item_type: str = "string"  # for "lines": the items' JSON type
    children: list[Field] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


# -- schema -> fields -----------------------------------------------------------------------------


def fields_from_schema(
    schema: Mapping[str, Any] | None, prefix: tuple[str, ...] = ()
) -> list[Field]:
    """The form's fields; empty when there is no schema (the page offers a JSON editor).

    ``prefix`` goes before every field's path (and so its name), for a page with several
    forms in one (an MCP elicitation's questions); only an object schema takes one."""
    if not schema:
        return []
    root = dict(schema)
    node, _ = _resolve(root, root)
    if _is_object(node) and node.get("properties"):
        return _object_fields(root, node, prefix)
    return [_field(root, node, (), label=str(node.get("title") or "Answer"), required=True)]


def _resolve(root: Mapping[str, Any], node: Any, depth: int = 0) -> tuple[dict[str, Any], bool]:
    """The schema node with ``$ref`` / single ``allOf`` / ``anyOf [X, null]`` unwrapped.

    Returns the node and whether ``null`` is also allowed. Keywords next to the ``$ref``
    (``title``, ``default``, ``description``) win over the target's, as pydantic means them.
    """
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return {}, False
    node = dict(node)
    nullable = False
    if "$ref" in node:
        target = _lookup(root, str(node.pop("$ref")))
        inner, inner_null = _resolve(root, target, depth + 1)
        node = {**inner, **node}
        nullable = nullable or inner_null
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        del node["allOf"]
        inner, inner_null = _resolve(root, all_of[0], depth + 1)
        node = {**inner, **node}
        nullable = nullable or inner_null
    for key in ("anyOf", "oneOf"):
        choices = node.get(key)
        if not isinstance(choices, list):
            continue
        rest = [c for c in choices if not (isinstance(c, Mapping) and c.get("type") == "null")]
        if len(rest) < len(choices):
            nullable = True
        resolved = [_resolve(root, c, depth + 1)[0] for c in rest]
        if len(resolved) == 1:
            del node[key]
            node = {**resolved[0], **node}
        elif resolved and all(_enum_of(c) is not None for c in resolved):
            del node[key]
            node["enum"] = [v for c in resolved for v in (_enum_of(c) or [])]
        else:
            node[key] = resolved
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        nullable = nullable or len(types) < len(kind)
        node["type"] = types[0] if len(types) == 1 else types
    return node, nullable


def _lookup(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, Mapping) else None
    return node or {}


def _enum_of(node: Mapping[str, Any]) -> list[Any] | None:
    if isinstance(node.get("enum"), list):
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    return None


def _is_object(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "object" or ("properties" in node and "type" not in node)


def _object_fields(
    root: Mapping[str, Any], node: Mapping[str, Any], path: tuple[str, ...], depth: int = 0
) -> list[Field]:
    required = set(node.get("required") or [])
    props = node.get("properties") or {}
    # Required fields first: the schema's own property order does not survive storage as
    # jsonb (Postgres orders object keys by length), so it cannot be relied on anyway.
    names = sorted(props, key=lambda name: name not in required)
    return [
        _field(root, props[name], (*path, str(name)), required=name in required, depth=depth + 1)
        for name in names
    ]


def _field(
    root: Mapping[str, Any],
    raw: Any,
    path: tuple[str, ...],
    *,
    required: bool,
    label: str | None = None,
    depth: int = 0,
) -> Field:
    node, nullable = _resolve(root, raw)
    name = ".".join(path) if path else ROOT_NAME
    f = Field(
        name=name,
        path=path,
        kind="json",
        label=label or str(node.get("title") or _humanize(path[-1] if path else ROOT_NAME)),
        description=node.get("description"),
        required=required,
        nullable=nullable,
        default=node.get("default"),
        has_default="default" in node,
    )
    enum = _enum_of(node)
    kind = node.get("type")
    if enum is not None:
        f.kind = "radio" if len(enum) <= MAX_RADIOS else "select"
        f.options = [Option(_option_value(v), _option_label(v), v) for v in enum]
    elif kind == "boolean":
        f.kind = "checkbox"
    elif kind in ("integer", "number"):
        f.kind = "number"
        f.item_type = kind
        f.attrs = _number_attrs(node, kind)
    elif kind == "string":
        f.attrs = _string_attrs(node, required)
        long = node.get("maxLength") is None or node["maxLength"] > LONG_TEXT
        plain = "format" not in node and "pattern" not in node
        f.kind = "textarea" if long and plain else "text"
        if f.kind == "text":
            f.attrs["type"] = _FORMATS.get(str(node.get("format")), "text")
    elif kind == "array":
        items, _ = _resolve(root, node.get("items") or {})
        item_enum = _enum_of(items)
        if item_enum is not None:
            f.kind = "checkboxes"
            f.options = [Option(_option_value(v), _option_label(v), v) for v in item_enum]
        elif items.get("type") in ("string", "integer", "number"):
            f.kind = "lines"
            f.item_type = str(items["type"])
    elif _is_object(node) and node.get("properties") and depth < _MAX_DEPTH:
        f.kind = "fieldset"
        f.children = _object_fields(root, node, path, depth)
    if required and f.kind in ("text", "textarea", "number", "select"):
        f.attrs["required"] = ""
    return f


def _humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or name


def _option_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _option_label(value: Any) -> str:
    if isinstance(value, str):
        return _humanize(value)
    return "None" if value is None else json.dumps(value)


def _number_attrs(node: Mapping[str, Any], kind: str) -> dict[str, str]:
    attrs = {"step": "1" if kind == "integer" else "any"}
    for key, attr in (("minimum", "min"), ("maximum", "max")):
        if isinstance(node.get(key), int | float):
            attrs[attr] = _num(node[key])
    # An exclusive bound on an integer is the next integer in; on a number, leave it to the server.
    if kind == "integer":
        if isinstance(node.get("exclusiveMinimum"), int | float):
            attrs["min"] = _num(math.floor(node["exclusiveMinimum"]) + 1)
        if isinstance(node.get("exclusiveMaximum"), int | float):
            attrs["max"] = _num(math.ceil(node["exclusiveMaximum"]) - 1)
    return attrs


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _string_attrs(node: Mapping[str, Any], required: bool) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if isinstance(node.get("minLength"), int):
        attrs["minlength"] = str(node["minLength"])
    if isinstance(node.get("maxLength"), int):
        attrs["maxlength"] = str(node["maxLength"])
    if isinstance(node.get("pattern"), str):
        # HTML patterns match the whole value; JSON Schema's match anywhere.
        attrs["pattern"] = f".*(?:{node['pattern']}).*"
    return attrs


# -- what the form shows --------------------------------------------------------------------------


def initial_values(fields: Sequence[Field]) -> dict[str, list[str]]:
    """The form's starting values (the schema's defaults), shaped like submitted form data."""
    values: dict[str, list[str]] = {}
    for f in _walk(fields):
        if not f.has_default or f.default is None:
            continue
        d = f.default
        if f.kind == "checkbox":
            values[f.name] = ["on"] if d else []
        elif f.kind in ("radio", "select"):
            values[f.name] = [_option_value(d)]
        elif f.kind == "checkboxes" and isinstance(d, list):
            values[f.name] = [_option_value(v) for v in d]
        elif f.kind == "lines" and isinstance(d, list):
            values[f.name] = ["\n".join(str(v) for v in d)]
        elif f.kind == "json":
            values[f.name] = [json.dumps(d, indent=2)]
        else:
            values[f.name] = [str(d)]
    return values


def _walk(fields: Sequence[Field]) -> list[Field]:
    out = []
    for f in fields:
        out.append(f)
        out.extend(_walk(f.children))
    return out


def errors_by_field(
    fields: Sequence[Field], problems: Sequence[Mapping[str, Any]], prefix: int = 2
) -> tuple[dict[str, list[str]], list[str]]:
    """Put each ``{loc, msg}`` next to the deepest field its ``loc`` points into.

    ``prefix`` is how many leading ``loc`` parts to drop (``["body", "response"]``). Returns
    messages by field name, and those that belong to no field (shown above the form).
    """
    by_path = {f.path: f.name for f in _walk(fields)}
    placed: dict[str, list[str]] = {}
    loose: list[str] = []
    for problem in problems:
        loc = tuple(str(p) for p in list(problem.get("loc") or [])[prefix:])
        msg = str(problem.get("msg", "invalid"))
        if problem.get("type") == "required":
            msg = "This field is required."
        for n in range(len(loc), -1, -1):
            if loc[:n] in by_path:
                placed.setdefault(by_path[loc[:n]], []).append(msg)
                break
        else:
            loose.append(msg)
    return placed, loose


# -- form -> value --------------------------------------------------------------------------------


def value_from_form(
    schema: Mapping[str, Any] | None, form: FormData, prefix: tuple[str, ...] = ()
) -> Any:
    """The answer the submitted form stands for, typed as the schema says.

    Empty controls are left out, so a missing required field is reported by validation at
    that field. Raises `errors.ResponseInvalid` (locations under ``body.response``, then the
    ``prefix``) for text that cannot be read as its type: a number field holding ``"abc"``,
    broken JSON.
    """
    fields = fields_from_schema(schema, prefix)
    problems: list[dict[str, Any]] = []
    if fields and not fields[0].path:  # the schema is one value, not an object
        value = _value(fields[0], form, problems)
        result = None if value is _MISSING else value
    else:
        result = _object_value(fields, form, problems)
    if problems:
        raise errors.ResponseInvalid(problems)
    return result


_MISSING: Any = object()


def _first(form: FormData, name: str) -> str | None:
    got = form.get(name)
    if got is None or isinstance(got, str):
        return got
    return got[0] if got else None


def _all(form: FormData, name: str) -> list[str]:
    got = form.get(name)
    if got is None:
        return []
    return [got] if isinstance(got, str) else list(got)


def _object_value(
    fields: Sequence[Field], form: FormData, problems: list[dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = _value(f, form, problems)
        if value is not _MISSING:
            out[f.path[-1]] = value
    return out


def _value(f: Field, form: FormData, problems: list[dict[str, Any]]) -> Any:
    def bad(msg: str) -> Any:
        problems.append({"loc": ["body", "response", *f.path], "msg": msg, "type": "form"})
        return _MISSING

    if f.kind == "fieldset":
        inner = _object_value(f.children, form, problems)
        # An optional object left blank (unticked boxes aside) is left out, not sent half-empty.
        blank = all(v is False or v == [] for v in inner.values())
        return _MISSING if blank and not f.required else inner
    if f.kind == "checkbox":
        return _first(form, f.name) is not None
    if f.kind == "checkboxes":
        by_value = {o.value: o.data for o in f.options}
        picked = [by_value.get(v, v) for v in _all(form, f.name)]
        return picked if picked or f.required else _MISSING
    raw = _first(form, f.name)
    if raw is None or raw.strip() == "":
        # Nothing picked or written: an empty list if one is required, else left out.
        return [] if f.kind == "lines" and f.required else _MISSING
    if f.kind in ("radio", "select"):
        by_value = {o.value: o.data for o in f.options}
        return by_value.get(raw, raw)  # an unknown value is left for validation to name
    if f.kind == "number":
        number = _number(raw.strip(), f.item_type)
        return bad(f"{raw.strip()!r} is not {_a(f.item_type)}") if number is None else number
    if f.kind == "lines":
        items = [line.strip() for line in raw.splitlines() if line.strip()]
        if f.item_type == "string":
            return items
        numbers = [_number(i, f.item_type) for i in items]
        wrong = [i for i, n in zip(items, numbers, strict=True) if n is None]
        if wrong:
            return bad(f"{wrong[0]!r} is not {_a(f.item_type)}")
        return numbers
    if f.kind == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            return bad(f"not valid JSON: {exc}")
    return raw


def _a(kind: str) -> str:
    return "an integer" if kind == "integer" else "a number"


def _number(text: str, kind: str) -> int | float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if kind == "integer":
        return int(value) if value.is_integer() else None
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )
