"""The admin as the operators' console, through Django's test client: the instance page says
what is happening now, acts (with confirmation and role checks) through the services, shows
executions with secrets masked and the journal page by page; runtime records are read-only."""

import re

import pytest
from django.test import Client

from tests.factories import MembershipFactory, UserFactory
from tests.integration.execution.conftest import drain_steps, sequence
from workflows.models import (
    ActivityExecution,
    DeadLetter,
    Incident,
    JournalEntry,
    Step,
    StepKind,
    WorkerProcess,
    WorkflowInstance,
)
from workflows.services.inline import instance_execute
from workflows.services.instances import instance_dispatch
from workflows.services.runner import step_process

pytestmark = pytest.mark.django_db

BASE = "/admin/workflows/workflowinstance/"


def _staff(tenant=None, role=None, *, superuser=False) -> Client:
    user = UserFactory(is_staff=True, is_superuser=superuser)
    if not superuser:
        from django.contrib.auth.models import Permission

        user.user_permissions.add(*Permission.objects.filter(
            content_type__app_label="workflows", codename__startswith="view_"))
    if tenant is not None and role is not None:
        MembershipFactory(tenant=tenant, user=user, role=role)
    client = Client()
    client.force_login(user)
    client.username = user.get_username()
    return client


@pytest.fixture
def root(tenant):
    return _staff(superuser=True)


def _waiting(publish, tenant, *, correlation_id="order-7"):
    publish(sequence("approval", [
        {"id": "approve", "type": "Event", "event": "approved"},
        {"id": "done", "type": "SetOutput", "output": "by", "value": {"expr": "result"}},
    ], outputs=[{"name": "by", "type": "any"}]))
    return instance_execute(tenant=tenant, definition_id="approval",
                            correlation_id=correlation_id)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_now_panel_says_what_the_instance_waits_for(root, tenant, publish):
    instance = _waiting(publish, tenant)
    page = root.get(f"{BASE}{instance.id}/change/")
    assert page.status_code == 200
    text = _text(page)
    assert "Now: suspended" in text
    assert "Waiting for the event &#x27;approved&#x27; with correlation id &#x27;order-7&#x27;" \
        " in approve." in text
    for label in ("Resume a wait", "Publish an event", "Suspend", "Cancel"):
        assert f">{label}</a>" in text
    assert ">Retry</a>" not in text and ">Delete</a>" not in text
    assert 'id="weft-journal"' in text and 'id="weft-executions"' in text


def test_now_panel_shows_a_timer_and_a_fault_with_its_traceback(root, tenant, publish):
    publish(sequence("sleeper", [{"id": "nap", "type": "Delay", "duration": "PT30M"}]))
    sleeper = instance_execute(tenant=tenant, definition_id="sleeper")
    assert "Timer nap is due at " in _text(root.get(f"{BASE}{sleeper.id}/change/"))
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse",
                                  "input": {"reason": "card declined"}}]))
    faulted = instance_execute(tenant=tenant, definition_id="refuser")
    text = _text(root.get(f"{BASE}{faulted.id}/change/"))
    assert "Faulted in no:" in text and "card declined" in text
    assert "Traceback (most recent call last)" in text
    assert ">Retry</a>" in text and ">Delete</a>" in text and ">Cancel</a>" not in text


def test_now_panel_shows_a_child_and_the_hold(root, tenant, publish):
    _waiting(publish, tenant)
    publish(sequence("parent", [{"id": "kid", "type": "ExecuteWorkflow",
                                 "definition_id": "approval", "wait": True}]))
    parent = instance_execute(tenant=tenant, definition_id="parent", correlation_id="c")
    child = WorkflowInstance.objects.get(parent=parent)
    text = _text(root.get(f"{BASE}{parent.id}/change/"))
    assert f"Waiting for the child workflow approval (instance {child.id}" in text
    root.post(f"{BASE}{parent.id}/act/suspend/")
    text = _text(root.get(f"{BASE}{parent.id}/change/"))
    assert f"Held by {root.username} (admin) since" in text
    assert ">Resume</a>" in text and ">Suspend</a>" not in text


def test_suspend_asks_for_confirmation_then_acts_and_journals_who(root, tenant, publish):
    instance = _waiting(publish, tenant)
    confirm = root.get(f"{BASE}{instance.id}/act/suspend/")
    assert confirm.status_code == 200
    assert "no new step of it runs until it is resumed" in _text(confirm)
    instance.refresh_from_db()
    assert instance.held is False  # nothing happens on GET
    done = root.post(f"{BASE}{instance.id}/act/suspend/")
    assert done.status_code == 302 and done["Location"].endswith(f"{instance.id}/change/")
    instance.refresh_from_db()
    assert instance.held and instance.held_by == f"{root.username} (admin)"
    entry = JournalEntry.objects.get(instance=instance, event="operator")
    assert entry.message == f"suspended by {root.username} (admin)"
    root.post(f"{BASE}{instance.id}/act/resume/")
    instance.refresh_from_db()
    assert not instance.held


def test_resume_a_bookmark_with_a_json_payload(root, tenant, publish):
    instance = _waiting(publish, tenant)
    page = root.get(f"{BASE}{instance.id}/act/resume-bookmark/")
    bookmark = instance.bookmarks.get()
    assert str(bookmark.id) in page.content.decode()
    bad = root.post(f"{BASE}{instance.id}/act/resume-bookmark/",
                    {"bookmark": str(bookmark.id), "payload": "{not json"})
    assert bad.status_code == 200 and "Enter a valid JSON" in bad.content.decode()
    root.post(f"{BASE}{instance.id}/act/resume-bookmark/",
              {"bookmark": str(bookmark.id), "payload": '{"who": "ann"}'})
    drain_steps()
    instance.refresh_from_db()
    assert instance.status == "finished" and instance.output == {"by": {"who": "ann"}}
    assert JournalEntry.objects.filter(instance=instance, event="operator",
                                       message__startswith="bookmark resumed by").exists()


def test_publish_an_event_for_the_instances_correlation_id(root, tenant, publish):
    instance = _waiting(publish, tenant)
    other = instance_execute(tenant=tenant, definition_id="approval", correlation_id="other")
    page = root.get(f"{BASE}{instance.id}/act/publish-event/")
    assert 'value="approved"' in page.content.decode()  # the event it waits for, prefilled
    response = root.post(f"{BASE}{instance.id}/act/publish-event/",
                         {"name": "approved", "payload": '"bob"'}, follow=True)
    assert "1 wait(s) resumed" in response.content.decode()
    drain_steps()
    instance.refresh_from_db()
    other.refresh_from_db()
    assert instance.output == {"by": "bob"} and other.status == "suspended"


def test_publishing_an_event_nothing_waits_for_says_why(root, tenant, publish):
    instance = _waiting(publish, tenant)
    response = root.post(f"{BASE}{instance.id}/act/publish-event/", {"name": "nope"},
                         follow=True)
    assert "Nothing waits for the event &#x27;nope&#x27;" in response.content.decode()


def test_cancel_retry_and_delete_go_through_the_services(root, tenant, publish):
    instance = _waiting(publish, tenant)
    root.post(f"{BASE}{instance.id}/act/cancel/")
    instance.refresh_from_db()
    assert instance.status == "cancelled"
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse"}]))
    faulted = instance_execute(tenant=tenant, definition_id="refuser")
    root.post(f"{BASE}{faulted.id}/act/retry/")
    assert JournalEntry.objects.filter(instance=faulted, event="operator",
                                       message__startswith="retried by").exists()
    response = root.post(f"{BASE}{instance.id}/act/delete/")
    assert response["Location"] == BASE
    assert not WorkflowInstance.objects.filter(id=instance.id).exists()


def test_an_action_that_does_not_apply_is_refused_with_a_message(root, tenant, publish):
    instance = _waiting(publish, tenant)
    response = root.post(f"{BASE}{instance.id}/act/retry/", follow=True)
    assert "does not apply now" in response.content.decode()
    instance.refresh_from_db()
    assert instance.status == "suspended"


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_staff_who_are_not_superusers_get_neither_the_console_nor_its_actions(tenant, publish,
                                                                              role):
    """The admin admits superusers only (docs/decisions.md): a tenant role, even admin, opens
    neither the instance page nor its action URLs; tenant members work through the API."""
    instance = _waiting(publish, tenant)
    staff = _staff(tenant, role)
    page = staff.get(f"{BASE}{instance.id}/change/")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]
    refused = staff.post(f"{BASE}{instance.id}/act/cancel/")
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    instance.refresh_from_db()
    assert instance.status == "suspended"


def test_executions_show_input_output_error_with_secrets_masked(root, tenant, publish):
    publish(sequence("charge", [
        {"id": "add", "type": "examples.add", "input": {"a": 1, "b": 2}},
        {"id": "secret", "type": "SetVariable", "variable": "v",
         "value": {"api_key": "sk-live-123", "user": "ann"}},
        {"id": "no", "type": "test.refuse", "input": {"reason": "card declined"}},
    ], variables=[{"name": "v", "type": "any"}]))
    instance = instance_execute(tenant=tenant, definition_id="charge")
    text = _text(root.get(f"{BASE}{instance.id}/change/"))
    assert "sk-live-123" not in text
    assert "&quot;api_key&quot;: &quot;***&quot;" in text and "ann" in text
    assert "card declined" in text and "NonRetryableError" in text
    record = ActivityExecution.objects.get(instance=instance, activity_id="no")
    detail = _text(root.get(f"/admin/workflows/activityexecution/{record.pk}/change/"))
    assert "Traceback (most recent call last)" in detail


def test_journal_is_a_paged_timeline_that_opens_on_the_latest_page(root, tenant, publish):
    publish(sequence("chatty", [{"id": f"l{i}", "type": "WriteLine", "text": f"line {i}"}
                                for i in range(40)]))
    instance = instance_execute(tenant=tenant, definition_id="chatty")
    count = JournalEntry.objects.filter(instance=instance).count()
    assert count > 100
    latest = _text(root.get(f"{BASE}{instance.id}/change/"))
    pages = (count + 49) // 50
    assert f"Page {pages} of {pages}" in latest and "workflow_finished" in latest
    first = _text(root.get(f"{BASE}{instance.id}/change/?journal=1"))
    assert "Page 1 of" in first and "workflow_finished" not in first
    assert "line 0" in first


@pytest.mark.parametrize("model", ["journalentry", "activityexecution", "step", "deadletter",
                                   "incident", "workerprocess", "workflowinstance"])
def test_runtime_records_have_no_add_or_edit_forms(root, tenant, publish, model):
    publish(sequence("refuser", [{"id": "no", "type": "test.refuse"}]))
    instance = instance_execute(tenant=tenant, definition_id="refuser")
    rows = {
        "journalentry": JournalEntry.objects.filter(instance=instance).first(),
        "activityexecution": ActivityExecution.objects.filter(instance=instance).first(),
        "step": Step.objects.create(tenant=tenant, instance=instance, kind="run",
                                    run_after=instance.created_at),
        "deadletter": DeadLetter.objects.create(tenant=tenant, instance=instance, queue="q",
                                                message_id="m", received_at=instance.created_at),
        "incident": Incident.objects.filter(instance=instance).first(),
        "workerprocess": WorkerProcess.objects.create(
            name="w@h", hostname="h", pid=1, started_at=instance.created_at,
            last_heartbeat=instance.created_at),
        "workflowinstance": instance,
    }
    row = rows[model]
    assert root.get(f"/admin/workflows/{model}/add/").status_code == 403
    listing = root.get(f"/admin/workflows/{model}/")
    assert listing.status_code == 200
    page = root.get(f"/admin/workflows/{model}/{row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "<textarea" not in html
    # A POST to the change form changes nothing.
    assert root.post(f"/admin/workflows/{model}/{row.pk}/change/", {}).status_code == 403


def test_steps_show_the_activity_they_ran_and_whether_it_failed(root, tenant, publish,
                                                                 settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("flaky", [{"id": "f", "type": "test.flaky", "input": {"fail_times": 1},
                                "retry": {"max_attempts": 3, "initial_interval": 600}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="flaky")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    step_process(step_id=Step.objects.get(instance=instance, kind=StepKind.TASK).id, worker="w")
    listing = _text(root.get(f"/admin/workflows/step/?instance={instance.id}"))
    assert listing.count("f (test.flaky)") == 2
    assert 'alt="True"' in listing and 'alt="False"' in listing


def test_lists_are_compact_and_labels_read_well(root, tenant, publish):
    instance = _waiting(publish, tenant)
    listing = root.get(BASE).content.decode()
    # Short ids in the list, the whole id on the page.
    assert str(instance.id)[:8] in listing and f">{instance.id}<" not in listing
    columns = re.findall(r'<th scope="col" class="sortable column-', listing)
    assert 5 <= len(columns) <= 8
    assert "workflows/admin.css" in listing  # tighter cells, times on one line
    assert "weft-nowrap" in listing
    index = root.get("/admin/").content.decode()
    assert "Worker processes" in index and "Worker processs" not in index
    assert "Journal entries" in index and "Activity executions" in index


def test_messages_start_with_words_not_ids(root, tenant, publish):
    instance = _waiting(publish, tenant)
    response = root.post(BASE, {"action": "suspended_selected",
                                "_selected_action": [str(instance.id)]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Instance {str(instance.id)[:8]} suspended."]


def test_definition_and_instance_pages_leave_a_place_for_the_drawing(root, tenant, publish):
    from workflows.admin_runtime import WorkflowInstanceAdmin

    instance = _waiting(publish, tenant)
    page = root.get(f"{BASE}{instance.id}/change/")
    assert "workflow_drawing" in {b.name for b in _blocks(page)}
    assert page.context["activity_states"] == {"main": "running", "approve": "waiting"}
    assert page.context["definition_body"]["definition_id"] == "approval"
    definition = root.get(
        f"/admin/workflows/workflowdefinition/{instance.definition_version_id}/change/")
    assert "workflow_drawing" in {b.name for b in _blocks(definition)}
    assert WorkflowInstanceAdmin.change_form_template.endswith("console.html")


def _blocks(response):
    from django.template.loader_tags import BlockNode

    template = response.templates[0]
    return list(template.nodelist.get_nodes_by_type(BlockNode))


def test_now_panel_shows_a_retry_with_attempt_and_next_try(root, tenant, publish, settings):
    settings.WEFT_STEP_CONTINUE_MAX = 0
    publish(sequence("flaky", [{"id": "f", "type": "test.flaky", "input": {"fail_times": 2},
                                "retry": {"max_attempts": 4, "initial_interval": 600,
                                          "max_interval": 600, "jitter": 0}}]))
    instance = instance_dispatch(tenant=tenant, definition_id="flaky")
    step_process(step_id=Step.objects.get(instance=instance).id, worker="w")
    step_process(step_id=Step.objects.get(instance=instance, kind=StepKind.TASK).id, worker="w")
    text = _text(root.get(f"{BASE}{instance.id}/change/"))
    assert "Retrying f: attempt 2 of 4, next try at " in text
    assert "(in 10 minutes); last error: attempt 1 fails on purpose." in text
