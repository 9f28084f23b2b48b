"""The order-approval definition of SPEC §1, end to end."""

import copy

from tests.support.spec_example import ORDER_APPROVAL
from tests.unit.engine.helpers import Driver


def test_large_order_suspends_at_the_event_and_resumes_to_approved():
    d = Driver(copy.deepcopy(ORDER_APPROVAL), input={"order_id": "A-1", "amount": 5000},
               correlation_id="A-1")
    first = d.advance()
    assert first.status == "suspended"
    assert d.logs() == ["Order A-1"]
    [bookmark] = first.bookmarks
    assert (bookmark["activity_id"], bookmark["name"], bookmark["correlation_id"]) == \
        ("approve", "order-approved", "A-1")
    second = d.resume(bookmark["key"], {"by": "ann"})
    assert second.status == "finished"
    assert second.output == {"decision": "approved"}
    assert d.state["bookmarks"] == {}


def test_small_order_finishes_with_auto_decision():
    d = Driver(copy.deepcopy(ORDER_APPROVAL), input={"order_id": "A-2", "amount": 10})
    result = d.advance()
    assert result.status == "finished"
    assert result.output == {"decision": "auto"}
    assert result.bookmarks == []


def test_missing_amount_defaults_to_zero_and_auto_approves():
    d = Driver(copy.deepcopy(ORDER_APPROVAL), input={"order_id": "A-3"})
    assert d.advance().output == {"decision": "auto"}
