"""Shared fixtures. Django and DRF are imported inside fixtures so that the pure unit suites
(tests/unit/engine, expressions, ...) also run with `-p no:django`."""

import contextlib

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with an empty cache (the suite's Redis database) and no compiled plans
    in this process: plans are cached by version primary key, and the test database's flushes
    can hand the same key to another definition in a later test."""
    from django.core.cache import cache

    from workflows import plans

    with contextlib.suppress(Exception):  # a test may point the cache at a stopped server
        cache.clear()
    plans._plans.clear()
    yield


def client_for(user, tenant_slug: str | None = None):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    if tenant_slug:
        client.defaults["HTTP_X_WEFT_TENANT"] = tenant_slug
    return client


@pytest.fixture
def tenant(db):
    from tests.factories import TenantFactory

    return TenantFactory(slug="acme")


@pytest.fixture
def other_tenant(db):
    from tests.factories import TenantFactory

    return TenantFactory(slug="globex")


@pytest.fixture
def member_client(tenant):
    """`member_client(role)` → an authenticated client of a new user with that role in acme."""

    from tests.factories import MembershipFactory

    def make(role: str = "editor"):
        membership = MembershipFactory(tenant=tenant, role=role)
        return client_for(membership.user)

    return make


@pytest.fixture
def editor(member_client):
    return member_client("editor")


@pytest.fixture
def other_editor(other_tenant):
    from tests.factories import MembershipFactory

    return client_for(MembershipFactory(tenant=other_tenant, role="editor").user)


@pytest.fixture
def anonymous():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()
