"""A body over the request-size limit is a 413 in the house error shape, never a 500."""

import json

import pytest

from tests.integration.payloads.conftest import COPIES

pytestmark = pytest.mark.django_db


def test_a_dispatch_over_the_limit_is_413_with_the_limit_in_details(tenant, publish, operator,
                                                                    settings):
    publish(COPIES)
    settings.WEFT_MAX_REQUEST_BYTES = 10_000
    body = json.dumps({"input": {"data": "x" * 10_000}})

    response = operator.post("/api/v1/definitions/copies/dispatch/", data=body,
                             content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"error": {
        "code": "payload_too_large",
        "message": f"Request body is {len(body)} bytes; the limit is 10000 bytes "
                   "(WEFT_MAX_REQUEST_BYTES).",
        "details": {"limit": 10_000, "size": len(body)}}}


@pytest.mark.parametrize("path", ["/api/v1/definitions/copies/dispatch/",
                                  "/api/v1/events/arrived/"])
def test_djangos_own_limit_is_the_same_413(tenant, publish, operator, settings, path):
    publish(COPIES)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000  # set apart from WEFT_MAX_REQUEST_BYTES
    body = json.dumps({"input": {"data": "x" * 2_000}, "payload": "x" * 2_000})

    response = operator.post(path, data=body, content_type="application/json")

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"limit": 1_000}
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in error["message"]
