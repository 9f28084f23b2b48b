import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import definition_body

pytestmark = pytest.mark.django_db


def list_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/definitions/")
    assert response.status_code == 200
    return len(captured)


def test_list_query_count_does_not_grow_with_definitions(editor):
    for index in range(2):
        editor.post("/api/v1/definitions/", definition_body(f"d{index}"), format="json")
    few = list_queries(editor)
    for index in range(2, 30):
        editor.post("/api/v1/definitions/", definition_body(f"d{index}"), format="json")
        if index % 3 == 0:
            editor.post(f"/api/v1/definitions/d{index}/publish/")
    many = list_queries(editor)
    assert many == few


def test_versions_query_count_does_not_grow_with_versions(editor):
    editor.post("/api/v1/definitions/", definition_body(), format="json")

    def versions_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert editor.get("/api/v1/definitions/hello/versions/").status_code == 200
        return len(captured)

    few = versions_queries()
    for index in range(10):
        editor.post("/api/v1/definitions/hello/publish/")
        editor.put("/api/v1/definitions/hello/", definition_body(description=str(index)),
                   format="json")
    assert versions_queries() == few


def test_instance_list_query_count_does_not_grow_with_instances(editor, member_client):
    from tests.integration.execution.conftest import sequence

    editor.post("/api/v1/definitions/", sequence("boom", [
        {"id": "f", "type": "Fault", "message": "no"}]), format="json")
    editor.post("/api/v1/definitions/boom/publish/")
    operator = member_client("operator")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator.get("/api/v1/instances/").status_code == 200
        return len(captured)

    operator.post("/api/v1/definitions/boom/execute/", {}, format="json")
    few = queries()
    for _ in range(15):
        operator.post("/api/v1/definitions/boom/execute/", {}, format="json")
    assert queries() == few  # incidents are prefetched, not fetched per instance
