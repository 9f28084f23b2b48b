"""Columns Weft reads back keep secrets encrypted at rest and readable after a key rotation."""

import pytest
from django.db import connection

from tests.integration.execution.conftest import sequence
from workflows.models import WorkflowInstance
from workflows.selectors.definitions import definition_get_published
from workflows.services.instances import instance_create

pytestmark = pytest.mark.django_db


def raw_state(instance_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT state::text FROM workflows_workflowinstance WHERE id = %s",
                       [instance_id])
        return cursor.fetchone()[0]


@pytest.fixture
def instance(tenant, publish):
    publish(sequence("sealed", [{"id": "w", "type": "Event", "event": "never"}],
                     inputs=[{"name": "pin", "type": "string", "secret": True}]))
    published = definition_get_published(tenant=tenant, definition_id="sealed")
    created, _plan = instance_create(tenant=tenant, published=published, correlation_id=None,
                                     raw_input={"pin": "pin-8812", "api_key": "key-5521",
                                                "note": "plain"})
    return created


def test_secret_values_are_ciphertext_in_the_row_and_clear_when_read(instance):
    stored = raw_state(instance.pk)
    assert "pin-8812" not in stored and "key-5521" not in stored and "plain" in stored
    assert '"$sealed"' in stored
    reread = WorkflowInstance.objects.get(pk=instance.pk)
    assert reread.state["input"] == {"pin": "pin-8812", "api_key": "key-5521", "note": "plain"}
    assert reread.input == {"pin": "***", "api_key": "***", "note": "plain"}


def test_rotating_secret_key_with_a_fallback_keeps_values_readable(instance, settings):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-abcdefghijkl"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert WorkflowInstance.objects.get(pk=instance.pk).state["input"]["pin"] == "pin-8812"
    settings.SECRET_KEY_FALLBACKS = []
    assert WorkflowInstance.objects.get(pk=instance.pk).state["input"]["pin"] == "***"
