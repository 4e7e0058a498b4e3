"""Named placeholders turned into PostgreSQL's own, once."""

from __future__ import annotations

import pytest

from hitl.db.native import NativeStatement


def test_names_become_numbers_in_order_of_first_use_and_repeat() -> None:
    found = NativeStatement.of(
        "SELECT %(a)s::int + %(b)s, %(a)s, 'x%%' WHERE %(c)s IS NULL OR %(b)s > 0"
    )
    assert found.text == "SELECT $1::int + $2, $1, 'x%' WHERE $3 IS NULL OR $2 > 0"
    assert found.names == ("a", "b", "c")


@pytest.mark.parametrize("query", ["SELECT %s", "SELECT %(a)s, 50%", "SELECT %b"])
def test_anything_but_a_named_placeholder_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="only named placeholders"):
        NativeStatement.of(query)
