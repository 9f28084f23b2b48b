import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_superuser_sets_a_tenants_retention_in_the_admin(tenant):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = f"/admin/workflows/tenant/{tenant.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="retention_finished_days"' in page and 'name="retention_faulted_days"' in page
    form = {"slug": tenant.slug, "name": tenant.name, "retention_finished_days": "3",
            "retention_faulted_days": "", "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0"}
    assert client.post(url, form).status_code == 302
    tenant.refresh_from_db()
    assert (tenant.retention_finished_days, tenant.retention_faulted_days) == (3, None)
    form["retention_finished_days"] = "0"
    assert client.post(url, form).status_code == 200  # the form again, with the error
    tenant.refresh_from_db()
    assert tenant.retention_finished_days == 3
