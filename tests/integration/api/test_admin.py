import pytest
from django.test import Client

from tests.factories import UserFactory, definition_body
from workflows.models import WorkflowDefinition
from workflows.services.definitions import definition_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tenant):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    definition_create(tenant=tenant, user=admin, body=definition_body())
    return client


@pytest.mark.parametrize("url", [
    "/admin/workflows/tenant/", "/admin/workflows/membership/",
    "/admin/workflows/workflowdefinition/",
    "/admin/workflows/workflowdefinition/?q=hello&is_published__exact=0",
])
def test_admin_lists_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_admin_shows_pretty_json_and_versions(admin_client):
    definition = WorkflowDefinition.objects.get()
    page = admin_client.get(f"/admin/workflows/workflowdefinition/{definition.pk}/change/")
    assert page.status_code == 200
    assert b"&quot;definition_id&quot;: &quot;hello&quot;" in page.content
    assert b"v1" in page.content


def test_admin_publish_and_retract_actions_use_the_services(admin_client):
    definition = WorkflowDefinition.objects.get()
    url = "/admin/workflows/workflowdefinition/"
    admin_client.post(url, {"action": "publish_selected", "_selected_action": [definition.pk]})
    definition.refresh_from_db()
    assert definition.is_published and definition.published_at is not None
    admin_client.post(url, {"action": "retract_selected", "_selected_action": [definition.pk]})
    definition.refresh_from_db()
    assert not definition.is_published
