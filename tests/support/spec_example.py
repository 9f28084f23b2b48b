"""The order-approval definition of SPEC section 1, shared by the unit and integration
tests."""

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
