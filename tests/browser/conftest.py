"""Browser tests: Debian's Chromium driven by Playwright against the real platform (gunicorn
web, Celery worker and beat on the test database and a local SQS server). One web server per
test module, worker and beat for the tests that ask for them, one browser per session; a
screenshot under var/browser-failures/ when a test fails."""

import contextlib
import os
import re
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import e2e_database, e2e_env, make_tenant, web  # noqa: F401
from tests.e2e.support.fixtures import local_sqs  # noqa: F401
from tests.e2e.support.platform import start_beat, start_worker, stop_all

REPO = Path(__file__).resolve().parents[2]
FAILURES = REPO / "var" / "browser-failures"
CHROMIUM = os.environ.get("WEFT_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the test's own database calls
# (fixtures, assertions) stay synchronous and never share a connection with it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
PASSWORD = "pw-browser-123456"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"No browser for the Studio's browser tests: {CHROMIUM} is missing. Install it with "
            "'apt-get install -y chromium' or point WEFT_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture
def workers(e2e_env, web):  # noqa: F811
    """A real worker and beat next to the module's web server, for tests that need steps run
    on workers (and retries swept by beat). Stopped before pytest-django empties the database
    after the test, as in the end-to-end suite, so the emptying never waits on their locks."""
    processes = [start_worker(e2e_env, "browser-w", concurrency=2), start_beat(e2e_env)]
    try:
        yield processes
    finally:
        stop_all(processes)


class StudioUser:
    """A signed-up member of a fresh tenant, and the password to sign in with."""

    def __init__(self, tenant, username: str, role: str) -> None:
        self.tenant = tenant
        self.username = username
        self.role = role
        self.password = PASSWORD


@pytest.fixture
def studio_user(web, transactional_db):  # noqa: F811
    """`studio_user(role, tenant=None)`: a user in a new (or the given) tenant; cleaned up."""
    from django.contrib.auth import get_user_model

    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    created = []
    users = []

    def make(role: str = "editor", tenant_slug: str | None = None) -> StudioUser:
        slug = tenant_slug or f"br-{uuid.uuid4().hex[:8]}"
        username = f"{slug}-{role}-{uuid.uuid4().hex[:4]}"
        membership = tenant_member_ensure(tenant_slug=slug, username=username, role=role,
                                          password=PASSWORD)
        created.append(membership.tenant_id)
        users.append(membership.user_id)
        return StudioUser(membership.tenant, username, role)

    yield make
    with contextlib.suppress(Exception):
        Tenant.objects.filter(pk__in=created).delete()
        get_user_model().objects.filter(pk__in=users).delete()


@pytest.fixture
def new_page(browser, web, request):  # noqa: F811
    """`new_page()`: a page in a fresh browser context (its own cookies), watched for CSP
    violations and script errors, screenshotted when the test fails."""
    contexts = []

    def make():
        context = browser.new_context(base_url=web.url, viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.problems = []
        # With its stack: which callback failed (NO_MINIFY=1 bundles make it readable).
        page.on("pageerror", lambda error: page.problems.append(
            f"script error: {error}\n{error.stack}"))
        page.on("console", lambda message: page.problems.append(f"console: {message.text}")
                if message.type == "error" and "Content Security Policy" in message.text
                else None)
        page.set_default_timeout(20_000)
        contexts.append((context, page))
        return page

    yield make
    failed = getattr(request.node, "report_call", None)
    for index, (context, page) in enumerate(contexts):
        if failed is not None and failed.failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
            with contextlib.suppress(Exception):
                page.screenshot(path=str(FAILURES / f"{name}-{index}.png"), full_page=True)
        context.close()


def sign_in(page, user: StudioUser, path: str = "/studio/") -> None:
    """Through the sign-in form, the way a person does."""
    page.goto(path)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#role-badge:not(:empty)")


def api_for(page):
    """The signed-in page's own session, for checks a person cannot see in the page."""
    return page.request
