"""Issue 8 hole 14: `ExecuteWorkflow`'s own `correlation_id` names the child's correlation."""

from tests.integration.execution.conftest import sequence

CHILD = sequence("child", [{"id": "w", "type": "WriteLine", "text": "child ran"}])


def _child_of(operator, parent_id: str) -> dict:
    listing = operator.get("/api/v1/instances/", {"definition_id": "child"}).json()["results"]
    children = [row for row in listing if row["parent_id"] == parent_id]
    assert len(children) == 1, listing
    return children[0]


def test_execute_workflow_uses_its_own_correlation_id(publish, operator):
    publish(CHILD)
    publish(sequence("parent", [{"id": "call", "type": "ExecuteWorkflow",
                                 "definition_id": "child", "wait": True,
                                 "correlation_id": {"expr": "'order-' + input.order"}}]))
    response = operator.post("/api/v1/definitions/parent/execute/",
                             {"input": {"order": "7"}, "correlation_id": "parent-corr"},
                             format="json")
    assert response.status_code == 200, response.json()
    parent = response.json()
    assert parent["status"] == "finished" and parent["correlation_id"] == "parent-corr"
    assert _child_of(operator, parent["id"])["correlation_id"] == "order-7"


def test_execute_workflow_without_one_inherits_the_parents(publish, operator):
    publish(CHILD)
    publish(sequence("parent", [{"id": "call", "type": "ExecuteWorkflow",
                                 "definition_id": "child", "wait": True}]))
    response = operator.post("/api/v1/definitions/parent/execute/",
                             {"input": {}, "correlation_id": "parent-corr"}, format="json")
    assert response.status_code == 200, response.json()
    assert _child_of(operator, response.json()["id"])["correlation_id"] == "parent-corr"
