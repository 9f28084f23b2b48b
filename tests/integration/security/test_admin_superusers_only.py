"""The admin shows every tenant's data, so it admits superusers only: a staff member with
every model permission, or a tenant admin, is sent to the login page."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import MembershipFactory, UserFactory, definition_body
from workflows.services.definitions import definition_create

pytestmark = pytest.mark.django_db

PAGES = ["/admin/", "/admin/workflows/workflowdefinition/", "/admin/workflows/membership/",
         "/admin/workflows/workflowinstance/", "/admin/auth/user/"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def other_tenants_definition(other_tenant):
    owner = UserFactory()
    return definition_create(tenant=other_tenant, user=owner, body=definition_body("secret-plan"))


def test_staff_with_every_permission_is_not_let_in(tenant, other_tenants_definition):
    staff = MembershipFactory(tenant=tenant, role="admin").user
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(Permission.objects.all())
    client = logged_in(staff)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/admin/login/"), page
    change = f"/admin/workflows/workflowdefinition/{other_tenants_definition.pk}/change/"
    assert client.get(change).status_code == 302
    login_page = client.get("/admin/login/")
    assert b"secret-plan" not in login_page.content
    assert b"not authorized" in login_page.content


def test_staff_cannot_log_in_through_the_admin_form(tenant):
    staff = UserFactory(username="stafferin", is_staff=True)
    response = Client().post("/admin/login/", {"username": "stafferin",
                                               "password": "pw-123456"})
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert staff.is_staff and b"correct username and password" in response.content


def test_superuser_sees_every_tenant(tenant, other_tenants_definition):
    root = UserFactory(is_staff=True, is_superuser=True)
    client = logged_in(root)
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    assert b"secret-plan" in client.get("/admin/workflows/workflowdefinition/").content
