"""Cursors from clients are decoded without trusting them (hitl/_cursor.py)."""

from __future__ import annotations

import json

import hypothesis
from hypothesis import strategies as st

from hitl import _cursor, errors
from tests.support.api import b64


@hypothesis.settings(max_examples=60, derandomize=True, database=None, deadline=None)
@hypothesis.given(
    raw=st.one_of(
        st.binary(max_size=80),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=6,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_cursors_never_reach_the_database(raw: bytes) -> None:
    """Whatever a cursor holds, decoding it either gives a pair the queries take or 422."""
    for uuid_key in (False, True):
        try:
            at, key = _cursor.decode(b64(raw), uuid_key=uuid_key)
        except errors.InvalidInput as exc:
            assert exc.status_code == 422
            continue
        assert at.tzinfo is not None and isinstance(key, str) and "\x00" not in key
