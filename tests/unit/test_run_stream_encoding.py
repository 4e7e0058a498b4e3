"""A run's stream chunk is encoded in one pass, and what that pass cannot encode (nested too
deep, a cycle, a lone surrogate) goes through the checks the run's record goes through."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.types import Interrupt

from hitl import run_streams
from hitl.validation import CUT, to_json


def test_a_chunk_encodes_as_its_record_would() -> None:
    data = {
        "messages": [AIMessage(content="hi", id="m1")],
        "__interrupt__": (Interrupt(value={"question": "ok?"}, id="i1"),),
        "odd": object.__new__(type("Odd", (), {"__repr__": lambda self: "<odd>"})),
        3: (1, 2.5),
    }
    assert json.loads(run_streams.encode(data)) == to_json(data)


def test_what_one_pass_cannot_encode_is_cut_or_scrubbed() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(300):
        inner.append([])
        inner = inner[0]
    assert CUT in run_streams.encode(deep).decode()
    looped: dict[str, Any] = {}
    looped["self"] = looped
    assert json.loads(run_streams.encode(looped)) == to_json(looped)
    assert json.loads(run_streams.encode({"s": "a\ud800b"})) == {"s": "a\ufffdb"}
    assert json.loads(run_streams.encode({"n": float("nan")})) == {"n": "NaN"}
