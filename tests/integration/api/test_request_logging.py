import json
import logging

import pytest

from config.logs import configure_logging
from tests.factories import definition_body

pytestmark = pytest.mark.django_db


def test_each_request_is_logged_with_request_id_tenant_and_user(editor, capsys):
    configure_logging(level="INFO", fmt="json")
    try:
        response = editor.post("/api/v1/definitions/", definition_body(), format="json",
                               HTTP_X_REQUEST_ID="req-42")
    finally:
        configure_logging(level="WARNING", fmt="json")
    assert response["X-Request-ID"] == "req-42"
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()
             if line.startswith("{")]
    finished = next(line for line in lines if line["event"] == "request_finished")
    assert finished["request_id"] == "req-42"
    assert finished["tenant"] == "acme"
    assert finished["status"] == 201
    assert finished["user"].startswith("user-")
    logging.getLogger().handlers[0].flush()
