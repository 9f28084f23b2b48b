import json

import pytest

from tests.factories import definition_body

pytestmark = pytest.mark.django_db

BASE = "/api/v1/definitions/"


def create(client, body=None):
    response = client.post(BASE, body or definition_body(), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_version_one_draft_with_the_document(editor):
    created = create(editor)
    assert created["definition_id"] == "hello"
    assert created["version"] == 1
    assert created["is_latest"] is True
    assert created["is_published"] is False
    assert created["root"]["type"] == "Sequence"
    assert created["inputs"][0]["name"] == "who"


def test_create_derives_definition_id_from_name(editor):
    body = definition_body()
    del body["definition_id"]
    body["name"] = "Order Approval (EU)"
    created = create(editor, body)
    assert created["definition_id"] == "order-approval-eu"


def test_create_with_existing_id_is_a_conflict(editor):
    create(editor)
    response = editor.post(BASE, definition_body(), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "definition_exists"


def test_put_updates_a_draft_in_place(editor):
    create(editor)
    response = editor.put(f"{BASE}hello/", definition_body(description="changed"), format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.json()["description"] == "changed"


def test_put_after_publish_starts_a_new_version(editor):
    create(editor)
    assert editor.post(f"{BASE}hello/publish/").status_code == 200
    response = editor.put(f"{BASE}hello/", definition_body(description="v2"), format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["is_published"], body["published_version"]) == (2, False, 1)
    versions = editor.get(f"{BASE}hello/versions/").json()["results"]
    assert [(v["version"], v["is_latest"], v["is_published"]) for v in versions] == [
        (2, True, False),
        (1, False, True),
    ]


def test_publish_new_version_retracts_the_previous_one(editor):
    create(editor)
    editor.post(f"{BASE}hello/publish/")
    editor.put(f"{BASE}hello/", definition_body(description="v2"), format="json")
    published = editor.post(f"{BASE}hello/publish/").json()
    assert (published["version"], published["is_published"]) == (2, True)
    v1 = editor.get(f"{BASE}hello/versions/1/").json()
    assert v1["is_published"] is False


def test_retract_unpublishes_and_a_second_retract_is_a_conflict(editor):
    create(editor)
    editor.post(f"{BASE}hello/publish/")
    response = editor.post(f"{BASE}hello/retract/")
    assert response.status_code == 200
    assert response.json()["is_published"] is False
    again = editor.post(f"{BASE}hello/retract/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_published"


def test_version_detail_and_unknown_version(editor):
    create(editor)
    assert editor.get(f"{BASE}hello/versions/1/").json()["version"] == 1
    missing = editor.get(f"{BASE}hello/versions/7/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_delete_removes_every_version(editor):
    create(editor)
    editor.post(f"{BASE}hello/publish/")
    editor.put(f"{BASE}hello/", definition_body(description="v2"), format="json")
    assert editor.delete(f"{BASE}hello/").status_code == 204
    assert editor.get(f"{BASE}hello/").status_code == 404
    assert editor.get(f"{BASE}hello/versions/1/").status_code == 404


def test_list_filters_by_search_and_published(editor):
    create(editor, definition_body("alpha"))
    create(editor, definition_body("beta", description="the second"))
    editor.post(f"{BASE}beta/publish/")
    ids = lambda r: [d["definition_id"] for d in r.json()["results"]]  # noqa: E731
    assert ids(editor.get(BASE)) == ["alpha", "beta"]
    assert ids(editor.get(BASE, {"search": "second"})) == ["beta"]
    assert ids(editor.get(BASE, {"published": "true"})) == ["beta"]
    assert ids(editor.get(BASE, {"published": "false"})) == ["alpha"]
    page = editor.get(BASE, {"limit": 1}).json()
    assert page["count"] == 2 and page["next"] and len(page["results"]) == 1


def test_validate_reports_problems_with_paths_without_saving(editor):
    body = definition_body()
    body["root"]["activities"][1]["type"] = "NoSuchActivity"
    response = editor.post(f"{BASE}validate/", body, format="json")
    assert response.status_code == 200
    result = response.json()
    assert result["valid"] is False
    assert any(e["path"] == "root.activities[1].type" for e in result["errors"])
    assert editor.get(f"{BASE}hello/").status_code == 404


def test_validate_accepts_a_valid_body(editor):
    response = editor.post(f"{BASE}validate/", definition_body(), format="json")
    assert response.json() == {"valid": True, "errors": []}


def test_create_with_invalid_definition_is_400_with_json_paths(editor):
    body = definition_body()
    body["root"]["activities"][0]["value"] = {"expr": "input.who +"}
    body["inputs"][0]["type"] = "decimal"
    response = editor.post(BASE, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    paths = {e["path"] for e in error["details"]["errors"]}
    assert "root.activities[0].value" in paths
    assert "inputs[0].type" in paths


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"root": {"type": "Sequence", "id": "r", "activities": []}}, "name"),
        ({"name": 12, "root": {"type": "Sequence", "id": "r", "activities": []}}, "name"),
        ({"name": "x", "definition_id": "Bad Slug!", "root": {"type": "Sequence", "id": "r",
                                                               "activities": []}},
         "definition_id"),
        ({"name": "x"}, "root"),
        ({"name": "x", "inputs": "nope", "root": {"type": "Sequence", "id": "r",
                                                   "activities": []}}, "inputs"),
        ({"name": "x", "root": {"type": "Sequence", "id": "r", "activities": []},
          "options": {"activation": "sometimes"}}, "options.activation"),
    ],
)
def test_wrong_types_are_400_with_the_field_path(editor, body, path):
    response = editor.post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert path in {e["path"] for e in response.json()["error"]["details"]["errors"]}


def test_non_object_body_is_400(editor):
    response = editor.post(BASE, [1, 2, 3], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["path"] == ""


def test_malformed_json_is_400_never_500(editor):
    response = editor.post(BASE, data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_oversized_body_is_refused_before_parsing(editor, settings):
    settings.WEFT_MAX_REQUEST_BYTES = 10_000
    body = definition_body(description="x" * 20_000)
    response = editor.post(BASE, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_oversized_field_is_400_with_its_path(editor):
    response = editor.post(BASE, definition_body(name="n" * 500), format="json")
    assert response.status_code == 400
    assert "name" in {e["path"] for e in response.json()["error"]["details"]["errors"]}


def test_put_with_mismatched_definition_id_is_400(editor):
    create(editor)
    response = editor.put(f"{BASE}hello/", definition_body("other"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["path"] == "definition_id"


def test_reserved_definition_id_is_refused(editor):
    response = editor.post(BASE, definition_body("validate"), format="json")
    assert response.status_code == 400


def test_unknown_definition_is_404_on_every_endpoint(editor):
    for method, url in [
        ("get", f"{BASE}nope/"), ("put", f"{BASE}nope/"), ("delete", f"{BASE}nope/"),
        ("post", f"{BASE}nope/publish/"), ("post", f"{BASE}nope/retract/"),
        ("get", f"{BASE}nope/versions/"), ("get", f"{BASE}nope/versions/1/"),
    ]:
        response = getattr(editor, method)(url, definition_body("nope"), format="json")
        assert response.status_code == 404, (method, url, response.content)
        assert response.json()["error"]["code"] in {"not_found"}
