"""Bad input gets a clear error and never a 500: hypothesis sends near-valid and random JSON to
every endpoint that takes a body or parameters, and each answer must be below 500, with the
error envelope whenever it is an error."""

import copy
import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.spec_example import ORDER_APPROVAL

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
    """Every path into a JSON document (keys and indexes), the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


DOCUMENT_PATHS = [p for p in paths(ORDER_APPROVAL) if p]


@st.composite
def mutated_documents(draw, document=ORDER_APPROVAL):
    """The SPEC example with one to three places replaced by random JSON, or removed."""
    mutated = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(DOCUMENT_PATHS))
        parent = mutated
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape above this path
    return mutated


def assert_clear_answer(response) -> None:
    assert response.status_code < 500, response.content[:2000]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"] and isinstance(error["details"], dict)


@pytest.fixture
def published(editor):
    body = {**copy.deepcopy(ORDER_APPROVAL), "definition_id": "fuzz-target"}
    assert editor.post("/api/v1/definitions/", body, format="json").status_code == 201
    assert editor.post("/api/v1/definitions/fuzz-target/publish/").status_code == 200
    return "fuzz-target"


@FUZZ
@given(document=mutated_documents())
def test_validate_create_save_publish_and_run_answer_bad_documents_clearly(editor, document):
    assert_clear_answer(editor.post("/api/v1/definitions/validate/", document, format="json"))
    created = editor.post("/api/v1/definitions/", document, format="json")
    assert_clear_answer(created)
    saved = editor.put("/api/v1/definitions/order-approval/", document, format="json")
    assert_clear_answer(saved)
    if saved.status_code == 200:
        published = editor.post("/api/v1/definitions/order-approval/publish/")
        assert_clear_answer(published)
        if published.status_code == 200:  # a strange but valid definition must also run
            ran = editor.post("/api/v1/definitions/order-approval/execute/",
                              {"input": {"order_id": "o-1", "amount": 5000}}, format="json")
            assert_clear_answer(ran)


@FUZZ
@given(body=json_values, inputs=json_values)
def test_starting_with_bad_bodies_and_inputs_is_answered_clearly(editor, published, body, inputs):
    for action in ("dispatch", "execute"):
        url = f"/api/v1/definitions/{published}/{action}/"
        assert_clear_answer(editor.post(url, body, format="json"))
        assert_clear_answer(editor.post(url, {"input": inputs, "correlation_id": body},
                                        format="json"))


@FUZZ
@given(payload=json_values)
def test_resuming_a_bookmark_with_bad_payloads_is_answered_clearly(editor, published, payload):
    from workflows.models import Bookmark

    started = editor.post(f"/api/v1/definitions/{published}/execute/",
                          {"input": {"order_id": "o-1", "amount": 5000}}, format="json")
    assert started.status_code == 200, started.content
    bookmark = Bookmark.objects.get(instance_id=started.json()["id"])
    assert_clear_answer(editor.post(f"/api/v1/bookmarks/{bookmark.id}/resume/",
                                    {"payload": payload}, format="json"))
    assert_clear_answer(editor.post(f"/api/v1/bookmarks/{bookmark.id}/resume/", payload,
                                    format="json"))


@FUZZ
@given(body=json_values, name=st.text(min_size=1, max_size=40))
def test_events_with_bad_bodies_and_names_are_answered_clearly(editor, body, name):
    safe_name = name.replace("/", "_").replace("\\", "_").replace("?", "_").replace("#", "_")
    for url in (f"/api/v1/events/{safe_name}/", "/api/v1/events/order-approved/"):
        response = editor.post(url, body, format="json")
        if response.status_code == 404 and "error" not in response.json():
            continue
        assert_clear_answer(response)


@FUZZ
@given(params=st.dictionaries(
    st.sampled_from(["definition_id", "status", "correlation_id", "created_after",
                     "created_before", "page", "page_size", "search", "published", "cursor"]),
    st.text(max_size=40), max_size=5))
def test_list_filters_with_bad_values_are_answered_clearly(editor, params):
    assert_clear_answer(editor.get("/api/v1/instances/", params))
    assert_clear_answer(editor.get("/api/v1/definitions/", params))


@FUZZ
@given(body=json_values, raw=st.binary(max_size=200), path=st.text(max_size=30))
def test_hooks_with_bad_bodies_are_answered_clearly(tenant, body, raw, path, settings):
    settings.WEFT_THROTTLE_HOOKS = "100000/min"
    client = Client()
    safe_path = "".join(c for c in path if c.isalnum() or c in "-_/") or "x"
    assert_clear_answer(client.post(f"/hooks/acme/{safe_path}", data=json.dumps(body),
                                    content_type="application/json"))
    assert_clear_answer(client.post("/hooks/acme/orders/1", data=raw,
                                    content_type="application/json"))


# Found by the fuzzing above: PostgreSQL stores no NUL character in text or jsonb, and these
# reached an INSERT (or the advisory lock's key) and answered 500.
@pytest.mark.parametrize(("url", "body", "where"), [
    ("/api/v1/events/%00/", {}, "the request's path or query"),
    ("/api/v1/events/x/?correlation_id=%00", {}, "the request's path or query"),
    ("/api/v1/events/x/", {"correlation_id": "a\x00b"}, "correlation_id"),
    ("/api/v1/events/x/", {"payload": {"k": ["ok", "a\x00"]}}, "payload.k[1]"),
    ("/api/v1/definitions/", {"name": "a\x00b", "root": {"type": "WriteLine", "id": "w",
                                                         "text": "x"}}, "name"),
    ("/api/v1/definitions/", {"name": "ab", "root": {"type": "WriteLine", "id": "w",
                                                      "text": "x\x00"}}, "root.text"),
])
def test_nul_characters_are_refused_where_they_enter(editor, url, body, where):
    response = editor.post(url, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert error["message"].endswith(f"found one at {where}.")


def test_a_value_the_database_refuses_is_a_400_not_a_500(editor, monkeypatch):
    from django.db import DataError

    def refuse(**kwargs):
        raise DataError("value too long for type character varying(200)")

    monkeypatch.setattr("api.views.definitions.definition_create", refuse)
    response = editor.post("/api/v1/definitions/", {"name": "x", "root": {
        "type": "WriteLine", "id": "w", "text": "x"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_data"
