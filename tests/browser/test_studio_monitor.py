"""The Studio's sign-in, roles and monitor in Chromium, against real web, worker and beat
processes: what a person sees and presses, and what the server does about it."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import Api, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

APPROVAL = {
    "definition_id": "approval", "name": "Approval",
    "outputs": [{"name": "decision", "type": "any"}],
    "root": {"type": "Flowchart", "id": "main", "activities": [
        {"id": "hello", "type": "WriteLine", "text": "waiting for a decision"},
        {"id": "approve", "type": "Event", "event": "order-approved"},
        {"id": "decide", "type": "SetOutput", "output": "decision",
         "value": {"expr": "result['decision']"}},
    ], "connections": [{"source": "hello", "target": "approve"},
                       {"source": "approve", "target": "decide"}]},
}

FLAKY = {
    "definition_id": "flaky", "name": "Flaky",
    "root": {"type": "Flowchart", "id": "main", "activities": [
        {"id": "charge", "type": "test.flaky", "input": {"fail_times": 4}},
        {"id": "done", "type": "WriteLine", "text": "charged"},
    ], "connections": [{"source": "charge", "target": "done"}]},
}


def api_of(web, user) -> Api:
    return Api(web.url, user.username, user.password)


def instance_status(api: Api, instance_id: str) -> str:
    return api.get(f"/instances/{instance_id}/").json()["status"]


def shown_statuses(page, selector: str) -> dict:
    return json.loads(page.get_attribute(selector, "data-activity-statuses") or "{}")


def test_sign_in_tenant_switch_and_the_studio_content_security_policy(
        web, studio_user, new_page):
    from workflows.services.tenancy import tenant_member_ensure

    user = studio_user("editor")
    other = studio_user("admin")  # a second tenant; the user becomes a viewer there
    tenant_member_ensure(tenant_slug=other.tenant.slug, username=user.username, role="viewer",
                         password=user.password)
    page = new_page()

    page.goto("/studio/")
    assert "/accounts/login/" in page.url, "the Studio needs a signed-in user"
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password")

    sign_in(page, user)
    assert page.url.endswith("/studio/")
    assert page.get_by_role("heading", name="Instances").is_visible()
    response = page.request.get("/studio/")
    policy = response.headers["content-security-policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'", policy

    switch = page.get_by_label("Tenant")
    options = switch.locator("option").all_inner_texts()
    assert any(user.tenant.slug in text and "editor" in text for text in options)
    assert any(other.tenant.slug in text and "viewer" in text for text in options)
    switch.select_option(user.tenant.slug)
    assert page.inner_text("#role-badge") == "editor"
    page.get_by_role("link", name="Designer").click()
    assert page.locator("#new-definition").is_visible()
    switch.select_option(other.tenant.slug)
    expect(page.locator("#role-badge")).to_have_text("viewer")
    page.get_by_role("heading", name="Definitions").wait_for()
    assert page.locator("#new-definition").count() == 0, "a viewer cannot create definitions"
    # The choice survives a reload.
    page.reload()
    expect(page.locator("#role-badge")).to_have_text("viewer")
    assert page.get_by_label("Tenant").input_value() == other.tenant.slug

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    assert page.problems == []


def test_viewer_sees_no_edit_or_action_controls_and_the_server_refuses_them(
        web, studio_user, new_page):
    editor = studio_user("editor")
    viewer = studio_user("viewer", tenant_slug=editor.tenant.slug)
    api = api_of(web, editor)
    publish_definition(api, APPROVAL)
    # Run in the web process until it waits: this test needs no worker.
    started = api.post("/definitions/approval/execute/", {"correlation_id": "v-1"}).json()
    assert started["status"] == "suspended"

    page = new_page()
    sign_in(page, viewer)
    assert page.inner_text("#role-badge") == "viewer"
    page.get_by_role("link", name="Designer").click()
    page.get_by_role("link", name="Approval").wait_for()
    assert page.get_by_role("button", name="Duplicate").count() == 0
    assert page.get_by_role("button", name="Delete").count() == 0
    page.get_by_role("link", name="Approval").click()
    page.wait_for_selector("#designer-canvas[data-ready=true]")
    for control in ("#save", "#publish", "#retract", "#try-it", ".palette", "#delete-activity"):
        assert page.locator(control).count() == 0, control
    page.get_by_label("Activity to edit").select_option("approve")
    assert page.locator("#prop-approve-event").is_disabled()

    page.goto(f"/studio/instances/{started['id']}")
    page.get_by_text("Waiting for the event “order-approved”").wait_for()
    assert page.locator("[data-action]").count() == 0
    assert page.locator("[data-resume]").count() == 0

    # The server refuses anyway: the viewer's own session, with a valid CSRF token.
    token = page.get_attribute("#studio", "data-csrf")
    headers = {"X-CSRFToken": token, "X-Weft-Tenant": editor.tenant.slug,
               "Content-Type": "application/json"}
    refused = page.request.post(f"/api/v1/instances/{started['id']}/cancel/", headers=headers)
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "role_required"
    refused = page.request.put("/api/v1/definitions/approval/", headers=headers,
                               data=json.dumps(APPROVAL))
    assert refused.status == 403
    # And a session request without the CSRF token is refused before any role check.
    no_csrf = page.request.post(f"/api/v1/instances/{started['id']}/cancel/",
                                headers={"X-Weft-Tenant": editor.tenant.slug})
    assert no_csrf.status == 403
    assert "CSRF" in no_csrf.json()["error"]["message"]
    assert instance_status(api, started["id"]) == "suspended"  # still waiting, untouched
    assert page.problems == []


def test_a_waiting_instance_is_explained_in_words_and_resumed_from_the_ui(
        web, workers, studio_user, new_page):
    operator = studio_user("operator")
    editor = studio_user("editor", tenant_slug=operator.tenant.slug)
    api = api_of(web, editor)
    publish_definition(api, APPROVAL)
    started = api.post("/definitions/approval/dispatch/", {"correlation_id": "order-7"}).json()
    wait_until(lambda: api.get(f"/instances/{started['id']}/bookmarks/").json()["results"],
               timeout=60, what="the instance to wait")

    page = new_page()
    sign_in(page, operator)
    # The list shows it, counts it, and filters by status.
    row = page.locator(f"tr[data-instance='{started['id']}']")
    expect(row).to_contain_text("approval v1")
    expect(page.locator(".count[data-status=suspended] .n")).to_have_text("1")
    page.locator(".count[data-status=finished]").click()
    expect(row).to_have_count(0)
    page.locator(".count[data-status=suspended]").click()
    expect(row).to_have_count(1)
    page.get_by_label("Correlation id").fill("order-8")
    page.get_by_role("button", name="Apply").click()
    expect(row).to_have_count(0)
    expect(page.locator(".count[data-status=suspended] .n")).to_have_text("0")
    page.get_by_label("Correlation id").fill("order-7")
    page.get_by_role("button", name="Apply").click()
    expect(row).to_have_count(1)
    row.get_by_role("link").click()

    why = page.locator("#waiting .why")
    expect(why).to_have_text(
        "Waiting for the event “order-approved” with correlation id “order-7”.")
    graph = "#instance-graph"
    expect(page.locator(graph)).to_have_attribute("data-activity-statuses", re.compile("approve"))
    shown = shown_statuses(page, graph)
    assert shown == {"hello": "completed", "approve": "waiting"}, shown
    assert "decide" not in shown  # not reached yet

    page.get_by_label("Resume with payload (JSON)").fill("not json")
    page.get_by_role("button", name="Resume this wait").click()
    expect(page.locator(".flash.error")).to_contain_text("not JSON")
    page.get_by_label("Resume with payload (JSON)").fill('{"decision": "approved"}')
    page.get_by_role("button", name="Resume this wait").click()

    # The workers finish it; the page follows within its 2 s polling.
    expect(page.locator("#instance-status")).to_have_text("finished", timeout=60_000)
    expect(page.get_by_label("Outputs")).to_contain_text('"decision": "approved"')
    expect(page.locator(graph)).to_have_attribute(
        "data-activity-statuses",
        '{"hello":"completed","approve":"completed","decide":"completed"}')
    expect(page.locator("#waiting")).to_contain_text("It is not waiting: it is finished.")
    expect(page.locator(".timeline")).to_contain_text("completed decide")
    assert instance_status(api, started["id"]) == "finished"

    # Try it from the (read-only for an operator) designer: the run waits, the canvas says so,
    # and follows the run when the event arrives and the workers finish it.
    page.get_by_role("link", name="approval v1").click()
    canvas = page.locator("#designer-canvas")
    expect(canvas).to_have_attribute("data-ready", "true")
    assert page.locator("#save").count() == 0
    page.get_by_role("button", name="Try it").click()
    page.get_by_label("Correlation id (optional)").fill("order-9")
    page.get_by_role("button", name="Run").click()
    expect(canvas).to_have_attribute("data-run-status", "suspended")
    expect(canvas).to_have_attribute("data-activity-statuses",
                                     '{"hello":"completed","approve":"waiting"}')
    published = api.post("/events/order-approved/", {"correlation_id": "order-9",
                                                      "payload": {"decision": "later"}})
    assert len(published.json()["resumed"]) == 1
    expect(canvas).to_have_attribute("data-run-status", "finished", timeout=60_000)
    expect(canvas).to_have_attribute(
        "data-activity-statuses",
        '{"hello":"completed","approve":"completed","decide":"completed"}')
    expect(page.locator("#try-result .badge")).to_have_text("finished")
    assert page.problems == []


def confirm(page, action: str) -> None:
    page.locator(f"[data-action={action}]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=action.capitalize()).click()


def test_suspend_resume_cancel_delete_and_retry_from_the_ui_against_real_workers(
        web, workers, studio_user, new_page):
    operator = studio_user("operator")
    editor = studio_user("editor", tenant_slug=operator.tenant.slug)
    api = api_of(web, editor)
    publish_definition(api, APPROVAL)
    publish_definition(api, FLAKY)
    waiting = api.post("/definitions/approval/dispatch/", {"correlation_id": "hold-1"}).json()
    flaky = api.post("/definitions/flaky/dispatch/", {}).json()
    wait_until(lambda: api.get(f"/instances/{waiting['id']}/bookmarks/").json()["results"],
               timeout=60, what="the instance to wait")
    wait_until(lambda: instance_status(api, flaky["id"]) == "faulted", timeout=90,
               what="the flaky instance to fault")

    page = new_page()
    sign_in(page, operator, path=f"/studio/instances/{waiting['id']}")
    status = page.locator("#instance-status")
    expect(page.locator("[data-action=resume]")).to_have_count(0)  # not held: nothing to resume

    # A confirmation guards every action; "Keep it" changes nothing.
    page.locator("[data-action=cancel]").click()
    page.get_by_role("dialog").get_by_role("button", name="Keep it").click()
    assert instance_status(api, waiting["id"]) == "suspended"

    confirm(page, "suspend")
    expect(page.locator("#waiting")).to_contain_text("An operator suspended this instance")
    assert api.get(f"/instances/{waiting['id']}/").json()["held"] is True
    expect(page.locator("[data-action=suspend]")).to_have_count(0)

    confirm(page, "resume")
    expect(page.locator("[data-action=resume]")).to_have_count(0)
    assert api.get(f"/instances/{waiting['id']}/").json()["held"] is False
    expect(page.locator("#waiting .why")).to_contain_text("order-approved")

    confirm(page, "cancel")
    expect(status).to_have_text("cancelled")
    assert instance_status(api, waiting["id"]) == "cancelled"
    confirm(page, "delete")
    page.wait_for_url("**/studio/instances")
    assert api.get(f"/instances/{waiting['id']}/").status_code == 404

    # Retry: test.flaky failed its 4 attempts and the instance faulted. A retry from the UI
    # runs the activity again on a worker (a fresh round of attempts, which fail the same way).
    page.goto(f"/studio/instances/{flaky['id']}")
    expect(status).to_have_text("faulted")
    expect(page.locator("#incidents")).to_contain_text("attempt 4 fails on purpose")
    expect(page.locator("#instance-graph")).to_have_attribute(
        "data-activity-statuses", '{"charge":"faulted"}')
    confirm(page, "retry")
    expect(page.locator(".timeline")).to_contain_text("workflow_retried", timeout=30_000)
    expect(status).to_have_text("faulted", timeout=60_000)
    expect(page.locator("[data-action=retry]")).to_be_visible()
    expect(page.locator("#incidents h3")).to_have_text("Incidents (2)")
    journal = api.get(f"/instances/{flaky['id']}/journal/", limit=500).json()["results"]
    assert [e["event"] for e in journal].count("workflow_retried") == 1

    # The workers that did it, with their heartbeats.
    page.get_by_role("link", name="Workers & dead letters").click()
    table = page.get_by_role("table", name="Workers")
    row = table.locator("tbody tr", has_text="browser-w")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text(re.compile(r"\d{1,2}:\d{2}:\d{2} \((just now|\d+ s ago)\)"))
    expect(page.get_by_role("heading", name=re.compile("Dead letters"))).to_be_visible()
    assert page.problems == []


def test_the_admin_draws_definitions_and_instances_the_studio_way(
        web, studio_user, new_page):
    from django.contrib.auth import get_user_model

    from workflows.models import WorkflowDefinition

    editor = studio_user("editor")
    api = api_of(web, editor)
    publish_definition(api, FLAKY | {
        "definition_id": "quick", "variables": [{"name": "n", "type": "integer", "default": 0}],
        "root": {"type": "Flowchart", "id": "main", "activities": [
            {"id": "one", "type": "WriteLine", "text": "1"},
            {"id": "two", "type": "While", "condition": {"expr": "variables.n < 3"},
             "body": {"id": "inc", "type": "SetVariable", "variable": "n",
                      "value": {"expr": "variables.n + 1"}}}],
            "connections": [{"source": "one", "target": "two"}]}})
    instance = api.post("/definitions/quick/execute/", {}).json()
    assert instance["status"] == "finished"
    staff = get_user_model().objects.create_superuser(
        f"root-{editor.tenant.slug}", password=editor.password)
    definition = WorkflowDefinition.objects.get(tenant=editor.tenant, definition_id="quick")

    try:
        check_admin_drawings(new_page(), staff, editor.password, instance["id"], definition.pk)
    finally:
        staff.delete()


def check_admin_drawings(page, staff, password: str, instance_id: str, definition_pk) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/admin/workflows/workflowinstance/{instance_id}/change/")
    drawing = page.locator("[data-weft-graph]")
    expect(drawing).to_have_attribute("data-ready", "true")
    expect(drawing).to_have_attribute(
        "data-activity-statuses", '{"one":"completed","two":"completed","inc":"completed"}')
    expect(drawing).to_have_attribute("data-activity-runs", '{"inc":3}')  # the loop's count
    page.goto(f"/admin/workflows/workflowdefinition/{definition_pk}/change/")
    expect(drawing).to_have_attribute("data-ready", "true")
    expect(page.get_by_role("heading", name="Workflow drawing")).to_be_visible()
    assert page.problems == []
