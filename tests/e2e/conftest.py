"""End-to-end fixtures: the test database, a local SQS server, and the platform's real
processes. E2e tests are `django_db(transaction=True)`: what they write is committed, so the web,
worker and beat processes see it; each test makes its own tenant."""

import contextlib
import uuid

import pytest

from tests.e2e.support.fixtures import (  # noqa: F401
    E2E_PASSWORD,
    ensure_test_queues,
    local_sqs,
    sqs_env,
)
from tests.e2e.support.platform import Api, WebServer, platform_env, start_beat, stop_all


@pytest.fixture(scope="session")
def e2e_database(django_db_setup):
    """The test database's name (created because e2e tests carry the django_db mark)."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), f"e2e tests must run on the test database, not {name}"
    return name


@pytest.fixture(scope="module")
def e2e_env(local_sqs, e2e_database):  # noqa: F811
    env = platform_env(sqs_env(local_sqs), e2e_database)
    ensure_test_queues(env)
    return env


@pytest.fixture(scope="module")
def web(e2e_env):
    server = WebServer(e2e_env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def beat(e2e_env):
    process = start_beat(e2e_env)
    try:
        yield process
    finally:
        stop_all([process])


@pytest.fixture
def make_tenant(e2e_database, web, transactional_db):
    """`make_tenant()` → (tenant, Api client of an editor there); removed after the test."""
    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    created = []

    def make(role: str = "editor"):
        slug = f"e2e-{uuid.uuid4().hex[:8]}"
        membership = tenant_member_ensure(tenant_slug=slug, username=f"{slug}-user",
                                          role=role, password=E2E_PASSWORD)
        created.append(membership.tenant_id)
        return membership.tenant, Api(web.url, f"{slug}-user", E2E_PASSWORD)

    yield make
    with contextlib.suppress(Exception):
        Tenant.objects.filter(pk__in=created).delete()


def publish_definition(api: Api, body: dict) -> None:
    assert api.post("/definitions/", body).status_code == 201, body["definition_id"]
    assert api.post(f"/definitions/{body['definition_id']}/publish/").status_code == 200
