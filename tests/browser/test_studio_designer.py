"""The Studio's designer in Chromium against the real platform: building a workflow on the
canvas, the JSON tab, saving, publishing, running, and two editors saving the same definition."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.support.platform import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TWO_STEPS = {
    "definition_id": "two-steps", "name": "Two steps",
    "root": {"type": "Flowchart", "id": "main", "activities": [
        {"id": "a", "type": "WriteLine", "text": "first"},
        {"id": "b", "type": "WriteLine", "text": "second"},
    ], "connections": [{"source": "a", "target": "b"}]},
}


def canvas_ready(page):
    expect(page.locator("#designer-canvas")).to_have_attribute("data-ready", "true")


def add_from_palette(page, activity_type: str) -> None:
    page.get_by_label("Search activities").fill(activity_type)
    page.get_by_role("button", name=f"Add {activity_type}", exact=True).click()


def test_build_a_workflow_from_nothing_then_save_publish_and_run_it_on_the_canvas(
        web, studio_user, new_page):
    editor = studio_user("editor")
    page = new_page()
    sign_in(page, editor)
    page.get_by_role("link", name="Designer").click()
    page.get_by_role("link", name="New definition").click()
    canvas_ready(page)
    expect(page.locator(".badge.draft")).to_have_text("not saved yet")

    page.get_by_label("Name *").fill("Greeter")
    page.get_by_label("Definition id").fill("greeter")
    page.get_by_label("Inputs (JSON)").fill(
        '[{"name": "who", "type": "string", "default": "world"}]')
    page.get_by_label("Outputs (JSON)").fill('[{"name": "greeting", "type": "string"}]')

    # Palette: the categories come from the activity-types endpoint, user activities too.
    palette = page.get_by_label("Activity palette")
    for family in ("composition", "primitives", "user"):
        expect(palette.get_by_role("heading", name=family)).to_be_visible()
    add_from_palette(page, "If")
    canvas_ready(page)
    expect(page.get_by_label("Activity to edit")).to_have_value("if1")
    # A required condition left empty is pinned to its field and to the node.
    expect(page.locator("#error-prop-if1-condition")).to_contain_text("required")
    expect(page.locator("#designer-canvas")).to_have_attribute("data-invalid-activities", "if1")

    page.get_by_label("condition: value form").select_option("expr")
    condition = page.locator("#prop-if1-condition")
    condition.fill("input.who ==")
    expect(page.locator("#error-prop-if1-condition")).to_contain_text("invalid expression")
    expect(condition).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#problems")).to_contain_text("root.activities[0].condition")
    condition.fill("input.who == 'world'")
    expect(page.locator("#error-prop-if1-condition")).to_be_empty()
    expect(page.locator("#designer-canvas")).to_have_attribute("data-invalid-activities", "")

    add_from_palette(page, "SetOutput")
    page.locator("#prop-setoutput1-output").fill("greeting")
    page.get_by_label("value: value form").select_option("template")
    page.locator("#prop-setoutput1-value").fill("Hello {{ input.who }}")
    add_from_palette(page, "WriteLine")
    page.locator("#prop-writeline1-text").fill("someone else")

    # Connect the If's outcomes to their targets.
    page.get_by_label("Activity to edit").select_option("if1")
    page.locator("#connect-if1-true").select_option("setoutput1")
    page.locator("#connect-if1-false").select_option("writeline1")
    expect(page.locator("#problems")).to_contain_text("No problems")
    expect(page.locator("#designer-canvas")).to_have_attribute("data-problems", "0")

    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash")).to_contain_text("Saved greeter (version 1)")
    expect(page.locator(".badge.draft")).to_have_text("draft v1")
    assert page.url.endswith("/studio/definitions/greeter")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".badge.published")).to_have_text("published v1")

    api = Api(web.url, editor.username, editor.password)
    saved = api.get("/definitions/greeter/").json()
    assert saved["is_published"] and saved["version"] == 1
    assert {(c["source"], c.get("outcome"), c["target"]) for c in saved["root"]["connections"]} \
        == {("if1", "true", "setoutput1"), ("if1", "false", "writeline1")}
    assert saved["root"]["activities"][0]["condition"] == {"expr": "input.who == 'world'"}

    # Try it: run the published version and watch the run on the canvas.
    page.get_by_role("button", name="Try it").click()
    page.get_by_label("Input (JSON)").fill('{"who": "world"}')
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#try-result")).to_contain_text("finished")
    expect(page.locator("#try-result")).to_contain_text("Hello world")
    statuses = json.loads(page.get_attribute("#designer-canvas", "data-activity-statuses"))
    assert statuses == {"if1": "completed", "setoutput1": "completed"}, statuses

    # A change to a published definition saves a new version; compare the two; retract.
    page.get_by_label("Activity to edit").select_option("writeline1")
    page.locator("#prop-writeline1-text").fill("nobody")
    page.keyboard.press("Control+s")
    expect(page.locator(".badge.draft")).to_have_text("draft v2")
    expect(page.locator(".badge.published")).to_have_text("published v1")
    page.get_by_role("link", name="Compare versions").click()
    expect(page.locator("#diff-right")).to_have_attribute("data-diff", '{"writeline1":"changed"}')
    expect(page.get_by_label("v1", exact=True).locator(".del")).to_contain_text("someone else")
    expect(page.get_by_label("v2", exact=True).locator(".ins")).to_contain_text("nobody")
    page.get_by_role("link", name="Back to the designer").click()
    canvas_ready(page)
    page.get_by_role("button", name="Retract").click()
    expect(page.locator("#flash")).to_contain_text("Retracted")
    assert api.get("/definitions/greeter/").json()["published_version"] is None
    assert page.problems == []


def test_definitions_list_searches_duplicates_and_deletes(web, studio_user, new_page):
    editor = studio_user("editor")
    api = Api(web.url, editor.username, editor.password)
    api.post("/definitions/", TWO_STEPS)
    api.post("/definitions/", {**TWO_STEPS, "definition_id": "other", "name": "Other"})
    page = new_page()
    sign_in(page, editor, path="/studio/definitions")
    rows = page.locator("tr[data-definition]")
    expect(rows).to_have_count(2)
    page.get_by_label("Search").fill("two")
    expect(rows).to_have_count(1)
    row = page.locator("tr[data-definition=two-steps]")
    expect(row).to_contain_text("draft v1")
    row.get_by_role("button", name="Duplicate").click()
    page.get_by_label("New definition id").fill("two-steps-copy")
    page.get_by_role("dialog").get_by_role("button", name="Duplicate").click()
    page.wait_for_url("**/studio/definitions/two-steps-copy")
    canvas_ready(page)
    expect(page.get_by_role("heading", name="Two steps (copy)")).to_be_visible()
    copy = api.get("/definitions/two-steps-copy/").json()
    assert copy["root"] == TWO_STEPS["root"]
    page.get_by_role("link", name="Designer").click()
    page.locator("tr[data-definition=other]").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("tr[data-definition=other]")).to_have_count(0)
    assert api.get("/definitions/other/").status_code == 404
    assert page.problems == []


def test_json_tab_and_canvas_stay_in_step_with_drag_undo_redo_and_delete(
        web, studio_user, new_page):
    editor = studio_user("editor")
    Api(web.url, editor.username, editor.password).post("/definitions/", TWO_STEPS)
    page = new_page()
    sign_in(page, editor, path="/studio/definitions/two-steps")
    canvas_ready(page)
    picker = page.get_by_label("Activity to edit")
    expect(picker.locator("option")).to_have_count(3)  # the workflow itself, a, b

    # JSON -> canvas: a new activity and connection typed in JSON appear on the canvas.
    page.get_by_role("tab", name="JSON").click()
    editor_box = page.get_by_label("Definition JSON")
    body = json.loads(editor_box.input_value())
    assert [a["id"] for a in body["root"]["activities"]] == ["a", "b"]
    editor_box.fill(editor_box.input_value()[:-10])
    expect(page.locator("#json-error")).to_contain_text("Not valid JSON yet")
    body["root"]["activities"].append({"id": "c", "type": "WriteLine", "text": "third"})
    body["root"]["connections"].append({"source": "b", "target": "c"})
    body["root"]["connections"].append({"source": "a", "outcome": "oops", "target": "zz"})
    editor_box.fill(json.dumps(body, indent=2))
    expect(page.locator("#json-error")).to_be_empty()
    page.get_by_role("tab", name="Canvas").click()
    canvas_ready(page)
    expect(picker.locator("option")).to_have_count(4)
    # A broken connection is pinned to the activity it leaves from, at its outcome.
    expect(page.locator("#designer-canvas")).to_have_attribute("data-invalid-activities", "a")
    picker.select_option("a")
    expect(page.locator("[data-error-for='connect:oops']")).to_contain_text("'zz'")
    page.locator("#connect-a-oops").select_option("")
    expect(page.locator("#designer-canvas")).to_have_attribute("data-invalid-activities", "")
    expect(page.locator("#problems")).to_contain_text("No problems")
    picker.select_option("c")
    expect(page.locator("#prop-c-text")).to_have_value("third")
    expect(page.locator("#connect-b-done")).to_have_count(0)  # c's panel, not b's
    picker.select_option("b")
    expect(page.locator("#connect-b-done")).to_have_value("c")

    # Canvas -> JSON: an activity dragged from the palette shows up in the JSON.
    page.get_by_label("Search activities").fill("WriteLine")
    page.get_by_role("button", name="Add WriteLine", exact=True).drag_to(
        page.locator("#designer-canvas"), target_position={"x": 200, "y": 120})
    expect(picker).to_have_value("writeline1")
    page.locator("#prop-writeline1-text").fill("dragged")
    page.get_by_role("tab", name="JSON").click()
    assert '"text": "dragged"' in editor_box.input_value()

    # Undo and redo by keyboard on the canvas; Delete removes the selected activity.
    page.get_by_role("tab", name="Canvas").click()
    page.locator("#designer-canvas").focus()
    page.keyboard.press("Control+z")  # the typed text
    page.keyboard.press("Control+z")  # the drop
    expect(picker.locator("option[value=writeline1]")).to_have_count(0)
    page.keyboard.press("Control+y")
    expect(picker.locator("option[value=writeline1]")).to_have_count(1)
    page.locator("#designer-canvas").focus()
    page.keyboard.press("ArrowDown")  # walks a, b, c, writeline1 from the selected one
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(picker).to_have_value("c")
    page.keyboard.press("ArrowUp")
    expect(picker).to_have_value("b")
    page.keyboard.press("Delete")
    expect(picker.locator("option[value=b]")).to_have_count(0)
    page.get_by_role("tab", name="JSON").click()
    body = json.loads(editor_box.input_value())
    assert [a["id"] for a in body["root"]["activities"]] == ["a", "c", "writeline1"]
    assert body["root"]["connections"] == [], "connections of a deleted activity go with it"
    expect(page.locator(".dirty")).to_have_text("Unsaved changes")
    # Leaving with unsaved work asks first; staying keeps everything.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("link", name="Monitor").click()
    assert page.url.endswith("/studio/definitions/two-steps")
    expect(page.locator(".dirty")).to_have_text("Unsaved changes")
    assert page.problems == []


def test_conflicting_saves_by_two_editors_are_shown_and_lose_nothing(
        web, studio_user, new_page):
    alice = studio_user("editor")
    bob = studio_user("editor", tenant_slug=alice.tenant.slug)
    api = Api(web.url, alice.username, alice.password)
    api.post("/definitions/", TWO_STEPS)
    pages = {}
    for user in (alice, bob):
        pages[user] = new_page()
        sign_in(pages[user], user, path="/studio/definitions/two-steps")
        canvas_ready(pages[user])
    a, b = pages[alice], pages[bob]

    a.get_by_label("Name *").fill("Alice's name")
    a.get_by_role("button", name="Save").click()
    expect(a.locator("#flash")).to_contain_text("Saved")

    b.get_by_label("Description").fill("Bob's description")
    b.get_by_role("button", name="Save").click()
    dialog = b.get_by_role("dialog")
    expect(dialog).to_contain_text("Someone else saved this definition meanwhile")
    expect(dialog.get_by_label(re.compile("^Saved: version 1"))).to_contain_text("Alice's name")
    expect(dialog.get_by_label("Yours (not saved)")).to_contain_text("Bob's description")
    dialog.get_by_role("button", name="Keep editing").click()
    expect(b.get_by_label("Description")).to_have_value("Bob's description")
    assert api.get("/definitions/two-steps/").json()["name"] == "Alice's name"

    b.get_by_role("button", name="Save").click()
    b.get_by_role("dialog").get_by_role("button", name="Save mine over theirs").click()
    expect(b.locator("#flash")).to_contain_text("Saved")
    saved = api.get("/definitions/two-steps/").json()
    assert saved["description"] == "Bob's description" and saved["name"] == "Two steps"

    # Alice saves again on top of what she read: she is told, takes Bob's, keeps hers to copy.
    a.get_by_label("Name *").fill("Alice again")
    a.get_by_role("button", name="Save").click()
    a.get_by_role("dialog").get_by_role("button", name="Take theirs").click()
    expect(a.get_by_label("Description")).to_have_value("Bob's description")
    expect(a.get_by_label("Your unsaved version")).to_contain_text("Alice again")
    assert api.get("/definitions/two-steps/").json()["description"] == "Bob's description"
    assert a.problems == [] and b.problems == []


def test_leaving_the_designer_at_once_raises_no_script_error(web, studio_user, new_page):
    """The designer's graph is destroyed when the page is left, while work on it may still be
    pending: the minimap's throttled thumbnail update (200 ms after a render) and ELK's
    asynchronous layout. Both used to run on the destroyed graph ("Cannot read properties of
    null (reading 'isHeadless')"). Left right after the layout, and left during one (a
    flowchart of 200 activities keeps ELK busy), several times each."""
    editor = studio_user("editor")
    api = Api(web.url, editor.username, editor.password)
    count = 200
    big = {"definition_id": "big", "name": "Big", "root": {
        "type": "Flowchart", "id": "main",
        "activities": [{"id": f"a{n}", "type": "WriteLine", "text": str(n)}
                       for n in range(count)],
        "connections": [{"source": f"a{n}", "target": f"a{n + 1}"} for n in range(count - 1)],
    }}
    assert api.post("/definitions/", TWO_STEPS).status_code == 201
    assert api.post("/definitions/", big).status_code == 201
    page = new_page()
    sign_in(page, editor, path="/studio/definitions")
    for definition_id, wait_for_layout in [("two-steps", True)] * 4 + [("big", False)] * 2:
        page.locator(f"tr[data-definition={definition_id}]").get_by_role("link").first.click()
        canvas = page.locator("#designer-canvas")
        expect(canvas).to_have_attribute("data-ready", "true" if wait_for_layout else "false")
        page.get_by_role("link", name="Designer").click()
        expect(page.locator(f"tr[data-definition={definition_id}]")).to_be_visible()
        page.wait_for_timeout(400)  # the minimap's pending update fires by now
    page.wait_for_timeout(3000)  # and every layout left behind has finished
    assert page.problems == []
