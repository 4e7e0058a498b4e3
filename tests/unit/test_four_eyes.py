"""Four-eyes' rule and where its term comes from (hitl/four_eyes.py, hitl/deadlines.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from hitl import deadlines, four_eyes
from hitl.auth import principal
from hitl.config import Settings
from hitl.models import Request
from hitl.registry import GraphRegistry
from tests.support.graphs import _terms_graph

NOW = datetime.now(UTC)
ANA = principal.for_user(user_id=7, username="ana", role="responder")
KEY = principal.Principal(kind="key", name="key:ci", scopes=frozenset({"*"}), key_id=3)


def request(**fields: object) -> Request:
    return Request.model_validate(
        {"id": "r", "state": "pending", "created_at": NOW, "updated_at": NOW, **fields}
    )


def test_the_requester_is_matched_by_identity_and_the_person_by_name() -> None:
    asked = request(forbid_self_approval=True, requested_by="ana", requested_by_subject="user:7")
    assert four_eyes.refuses(ANA, asked)
    # a later user of the same name is someone else
    again = principal.for_user(user_id=8, username="ana", role="responder")
    assert not four_eyes.refuses(again, asked)
    # on_behalf_of names a user: a key of that name is not them
    for_ana = request(forbid_self_approval=True, requested_by_subject="key:3", on_behalf_of="ana")
    assert four_eyes.refuses(ANA, for_ana) and four_eyes.refuses(KEY, for_ana)
    ana_key = principal.Principal(kind="key", name="ana", scopes=frozenset({"*"}), key_id=4)
    assert not four_eyes.refuses(ana_key, for_ana)
    # not forbidden: anyone
    assert not four_eyes.refuses(ANA, request(requested_by_subject="user:7"))


def test_the_term_comes_from_the_interrupt_then_the_registration_then_the_settings() -> None:
    def terms(setting: str, registered: bool | None, value: dict[str, object]) -> bool:
        registry = GraphRegistry()
        spec = registry.register("g", _terms_graph, forbid_self_approval=registered)
        settings = Settings(forbid_self_approval=setting)  # type: ignore[arg-type]
        defaults = spec.defaults(deadlines.defaults_from(settings))
        found, _ = deadlines.for_interrupt(value, defaults)
        return found.forbid_self_approval

    assert terms("external", None, {}) is False
    assert terms("all", None, {}) is True
    assert terms("none", True, {}) is True
    assert terms("all", False, {}) is False
    assert terms("all", False, {"forbid_self_approval": True}) is True
    assert terms("none", True, {"forbid_self_approval": False}) is False
    assert deadlines.defaults_from(Settings()).forbid_self_approval_external is True
    none = Settings(forbid_self_approval="none")
    assert deadlines.defaults_from(none).forbid_self_approval_external is False


def test_a_bad_term_in_an_interrupt_value_is_ignored_and_named() -> None:
    defaults = deadlines.defaults_from(Settings(forbid_self_approval="all"))
    found, problems = deadlines.for_interrupt(
        {"forbid_self_approval": "no", "on_behalf_of": "not a name"}, defaults
    )
    assert found.forbid_self_approval is True and found.on_behalf_of is None
    assert [p.split(":")[0] for p in problems] == ["forbid_self_approval", "on_behalf_of"]
