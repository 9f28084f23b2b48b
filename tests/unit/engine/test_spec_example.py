"""The order-approval definition of SPEC §1, end to end."""

import copy

from tests.unit.engine.helpers import Driver

ORDER_APPROVAL = {
    "definition_id": "order-approval",
    "name": "Order approval",
    "description": "Approve large orders by hand",
    "inputs": [{"name": "order_id", "type": "string", "required": True},
               {"name": "amount", "type": "number", "default": 0}],
    "outputs": [{"name": "decision", "type": "string"}],
    "variables": [{"name": "attempts", "type": "integer", "default": 0}],
    "options": {"activation": "always", "incident_strategy": "fault", "queue": "default"},
    "root": {
        "type": "Flowchart", "id": "main",
        "activities": [
            {"id": "log", "type": "WriteLine", "text": {"template": "Order {{ input.order_id }}"}},
            {"id": "big", "type": "If", "condition": {"expr": "input.amount > 1000"}},
            {"id": "approve", "type": "Event", "event": "order-approved"},
            {"id": "yes", "type": "SetOutput", "output": "decision", "value": "approved"},
            {"id": "auto", "type": "SetOutput", "output": "decision", "value": "auto"},
        ],
        "connections": [
            {"source": "log", "target": "big"},
            {"source": "big", "outcome": "true", "target": "approve"},
            {"source": "big", "outcome": "false", "target": "auto"},
            {"source": "approve", "target": "yes"},
        ],
    },
}


def test_large_order_suspends_at_the_event_and_resumes_to_approved():
    d = Driver(copy.deepcopy(ORDER_APPROVAL), input={"order_id": "A-1", "amount": 5000},
               correlation_id="A-1")
    first = d.run()
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
    result = d.run()
    assert result.status == "finished"
    assert result.output == {"decision": "auto"}
    assert result.bookmarks == []


def test_missing_amount_defaults_to_zero_and_auto_approves():
    d = Driver(copy.deepcopy(ORDER_APPROVAL), input={"order_id": "A-3"})
    assert d.run().output == {"decision": "auto"}
