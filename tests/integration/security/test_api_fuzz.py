"""Whole-API fuzzing: Schemathesis generates requests for every operation of `/api/schema/`
(valid and invalid), sends them to the WSGI application with an admin's token, and checks
that no answer is a 5xx and every answer conforms to the schema (status code, content type,
headers, body). Then a stateful run follows links between operations (create, then read,
update, act on what was created).

Bounded for `make test` (WEFT_FUZZ_EXAMPLES examples per operation, derandomized so a run is
reproducible); raise it locally to search harder."""

import json
import os

import pytest
import schemathesis
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, settings

from tests.conftest import client_for
from tests.factories import MembershipFactory

EXAMPLES = int(os.environ.get("WEFT_FUZZ_EXAMPLES", "10"))
STATEFUL_SCENARIOS = int(os.environ.get("WEFT_FUZZ_SCENARIOS", "15"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


def load_schema():
    """The schema `/api/schema/` serves, generated without a request (collection happens before
    the test database exists), wired to the WSGI application for the calls."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from config.wsgi import application

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(
        request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    return loaded


@pytest.fixture
def keep_test_connection():
    """The WSGI app is called directly (not through Django's test client), so detach what the
    test client detaches: closing the connection at each request's end, which would end the
    test's transaction."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(db, keep_test_connection):
    from tests.factories import TenantFactory

    membership = MembershipFactory(tenant=TenantFactory(slug="acme"), role="admin")
    client = client_for(membership.user)
    return {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}


schema = load_schema()


# Marked explicitly: pytest-django decides which databases to create from the collected items,
# and Schemathesis's generated item does not show the `db` fixture it uses.
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema_and_never_5xx(case, auth_headers):
    case.call_and_validate(headers=auth_headers, checks=CHECKS)


@pytest.fixture
def seeded(auth_headers):
    """Something to follow links to: a published definition, an instance waiting on an event
    (with its bookmark), a secret."""
    from django.contrib.auth import get_user_model

    from tests.support.spec_example import ORDER_APPROVAL
    from workflows.models import Tenant
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.inline import instance_execute
    from workflows.services.secrets import secret_create

    tenant = Tenant.objects.get(slug="acme")
    user = get_user_model().objects.filter(weft_memberships__tenant=tenant).first()
    definition_create(tenant=tenant, user=user, body=ORDER_APPROVAL)
    definition_publish(tenant=tenant, user=user, definition_id="order-approval")
    instance_execute(tenant=tenant, definition_id="order-approval",
                     input={"order_id": "F1", "amount": 5000}, correlation_id="F1")
    secret_create(tenant=tenant, name="SEEDED", value="seeded-secret-value")
    return auth_headers


@pytest.mark.django_db
def test_stateful_sequences_follow_links_between_operations(seeded):
    auth_headers = seeded
    """Create, then read, change and act on what was created: links inferred from the schema
    (a created definition's `definition_id` feeds the operations that take one, and so on)."""
    machine = schema.as_state_machine()

    class Scenario(machine):
        # Every scenario starts from the same database: its writes are rolled back after it.
        def setup(self):
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)
            cache.clear()

        def get_call_kwargs(self, case):
            return {"headers": auth_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Scenario.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6,
                                   derandomize=True, deadline=None,
                                   suppress_health_check=list(HealthCheck)))
