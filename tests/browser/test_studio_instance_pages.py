"""The Studio's instance list pages by cursor (the API's keyset list): Next and Previous walk
the pages, the label counts from the status counts, and the cursor stays in the address."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import publish_definition
from tests.e2e.support.platform import Api

DASH = "\N{EN DASH}"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

QUICK = {
    "definition_id": "quick", "name": "Quick",
    "root": {"type": "Sequence", "id": "main", "activities": [
        {"id": "one", "type": "WriteLine", "text": "1"}]},
}


def test_the_instance_list_pages_by_cursor(web, studio_user, new_page):
    editor = studio_user("editor")
    api = Api(web.url, editor.username, editor.password)
    publish_definition(api, QUICK)
    started = [api.post("/definitions/quick/execute/", {}).json()["id"] for _ in range(30)]

    page = new_page()
    sign_in(page, editor)
    pager = page.locator(".pager")
    rows = page.locator("tr[data-instance]")
    expect(pager).to_contain_text(f"1{DASH}25 of 30")
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-instance", started[-1])  # newest first
    expect(pager.get_by_role("button", name="Previous")).to_be_disabled()

    pager.get_by_role("button", name="Next").click()
    expect(pager).to_contain_text(f"26{DASH}30 of 30")
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-instance", started[0])
    expect(pager.get_by_role("button", name="Next")).to_be_disabled()
    assert "cursor=" in page.url

    pager.get_by_role("button", name="Previous").click()
    expect(pager).to_contain_text(f"1{DASH}25 of 30")
    expect(rows.first).to_have_attribute("data-instance", started[-1])
    assert page.problems == []
