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


def test_trigger_fires_are_listed_newest_first_with_what_they_started(admin_client, tenant):
    from datetime import timedelta

    from django.utils import timezone

    from workflows.models import TriggerFire, WorkflowTrigger
    from workflows.services.definitions import definition_publish
    from workflows.services.inline import instance_execute

    definition = definition_publish(tenant=tenant, user=None, definition_id="hello")
    trigger = WorkflowTrigger.objects.create(
        tenant=tenant, definition_version=definition, definition_id="hello",
        activity_id="every-minute", type="cron")
    started = instance_execute(tenant=tenant, definition_id="hello")
    now = timezone.now()
    TriggerFire.objects.create(trigger=trigger, scheduled_for=now - timedelta(minutes=1),
                               outcome="skipped")
    TriggerFire.objects.create(trigger=trigger, scheduled_for=now, instance=started)

    page = admin_client.get("/admin/workflows/triggerfire/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "every-minute" in text and "hello" in text
    assert f"/admin/workflows/workflowinstance/{started.pk}/change/" in text
    # Newest first: the fire that started an instance is the first row, the skipped one after.
    assert text.index(str(started.pk)[:8]) < text.index("skipped")
    filtered = admin_client.get("/admin/workflows/triggerfire/", {"outcome__exact": "skipped"})
    assert filtered.status_code == 200
    assert str(started.pk)[:8] not in filtered.content.decode()


@pytest.mark.parametrize(("model_name", "pk"), [
    ("workflowinstance", "0b7e3f52-52a4-4f4e-9d43-5f3f3c1c2a10"), ("workflowdefinition", 42),
    ("workflowdefinition", "odd/pk_with?chars"),
])
def test_change_links_of_list_rows_are_the_ones_reverse_gives(model_name, pk):
    from django.contrib.admin.utils import quote
    from django.urls import reverse

    from workflows.admin_display import change_url

    expected = reverse(f"admin:workflows_{model_name}_change", args=[quote(str(pk))])
    assert change_url(model_name, pk) == expected
    assert change_url(model_name, pk) == expected  # the second call, from the template
