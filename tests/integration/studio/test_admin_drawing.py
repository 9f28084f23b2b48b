"""The admin's definition and instance pages carry the Studio's drawing: the same bundle, fed
with the definition (and, for an instance, what each activity did)."""

import json
import re

import pytest
from django.test import Client

from tests.factories import UserFactory, definition_body
from workflows.models import ActivityExecution, WorkflowDefinition, WorkflowInstance
from workflows.services.definitions import definition_create, definition_publish

pytestmark = pytest.mark.django_db


def embedded(page) -> dict:
    html = page.content.decode()
    assert re.search(r'<script src="/static/studio/graph-[\d.]+\.js"></script>', html)
    found = re.search(r'<script id="weft-graph-data" type="application/json">(.*?)</script>',
                      html, re.S)
    return json.loads(found.group(1))


@pytest.fixture
def admin(tenant):
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    definition_create(tenant=tenant, user=user, body=definition_body())
    definition_publish(tenant=tenant, user=user, definition_id="hello")
    return client


def test_definition_change_page_draws_the_definition(admin):
    definition = WorkflowDefinition.objects.get()
    page = admin.get(f"/admin/workflows/workflowdefinition/{definition.pk}/change/")
    assert page.status_code == 200
    assert embedded(page)["definition"]["root"]["activities"][0]["id"] == "greet"


def test_instance_change_page_draws_what_each_activity_did(admin, tenant):
    definition = WorkflowDefinition.objects.get()
    instance = WorkflowInstance.objects.create(
        tenant=tenant, definition_version=definition, definition_id="hello", version=1,
        status="faulted")
    ActivityExecution.objects.create(instance=instance, instance_created_at=instance.created_at,
                                     key="k1", activity_id="greet",
                                     activity_type="SetOutput", status="completed")
    ActivityExecution.objects.create(instance=instance, instance_created_at=instance.created_at,
                                     key="k2", activity_id="log",
                                     activity_type="WriteLine", status="faulted")
    page = admin.get(f"/admin/workflows/workflowinstance/{instance.pk}/change/")
    assert page.status_code == 200
    data = embedded(page)
    assert data["definition"]["root"]["id"] == "main"
    assert data["executions"] == [{"activity_id": "greet", "status": "completed"},
                                  {"activity_id": "log", "status": "faulted"}]
    assert data["bookmarks"] == []
