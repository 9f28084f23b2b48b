import pytest

from tests.conftest import client_for
from tests.factories import MembershipFactory
from tests.integration.retention.conftest import WRITES, ended
from workflows.models import InstanceArchive, WorkflowDefinition, WorkflowInstance
from workflows.services.retention import retention_apply

pytestmark = pytest.mark.django_db

BASE = "/api/v1/"


@pytest.fixture
def archived(tenant, publish, store):
    publish(WRITES)
    instance = ended(tenant, "writes", days_ago=31, input={"name": "lin"})
    retention_apply(store=store)
    return instance


def test_an_archived_instance_says_so_and_where(archived, operator, bucket):
    response = operator.get(f"{BASE}instances/{archived.pk}/")
    assert response.status_code == 200
    body = response.json()
    record = InstanceArchive.objects.get(instance_id=archived.pk)
    assert body["id"] == str(archived.pk) and body["archived"] is True
    assert (body["definition_id"], body["status"]) == ("writes", "finished")
    assert body["archive"]["bucket"] == bucket
    assert body["archive"]["key"] == record.key
    assert body["archive"]["archived_at"]


def test_an_archived_instance_reads_back_from_its_archive(archived, operator):
    response = operator.get(f"{BASE}instances/{archived.pk}/archive/")
    assert response.status_code == 200
    body = response.json()
    assert body["instance"]["id"] == str(archived.pk)
    assert body["instance"]["input"] == {"name": "lin"}
    assert [entry["activity_id"] for entry in body["activity_executions"]] == [
        "main", "hello", "out"]
    assert any(entry["message"] == "hello lin" for entry in body["journal"])
    assert body["archive"]["sha256"] == InstanceArchive.objects.get(
        instance_id=archived.pk).sha256


def test_another_tenants_archived_instance_is_a_404(archived, other_editor):
    assert other_editor.get(f"{BASE}instances/{archived.pk}/").status_code == 404
    response = other_editor.get(f"{BASE}instances/{archived.pk}/archive/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_live_instance_has_no_archive_to_read(tenant, publish, operator, store):
    publish(WRITES)
    live = ended(tenant, "writes", days_ago=1)
    assert operator.get(f"{BASE}instances/{live.pk}/").json().get("archived") is None
    assert operator.get(f"{BASE}instances/{live.pk}/archive/").status_code == 404


def test_an_unreadable_archive_is_a_503_not_a_500(archived, operator, s3, bucket):
    s3.delete_object(Bucket=bucket, Key=InstanceArchive.objects.get(instance_id=archived.pk).key)
    response = operator.get(f"{BASE}instances/{archived.pk}/archive/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "archive_failed"


def test_deleting_a_definition_answers_at_once_and_housekeeping_finishes(tenant, publish,
                                                                         store, editor):
    publish(WRITES)
    instances = [ended(tenant, "writes", days_ago=0) for _ in range(3)]

    assert editor.delete(f"{BASE}definitions/writes/").status_code == 204

    assert editor.get(f"{BASE}definitions/writes/").status_code == 404
    assert WorkflowInstance.objects.filter(definition_id="writes").count() == 3
    # The id is free again at once.
    assert editor.post(f"{BASE}definitions/", WRITES, format="json").status_code == 201

    report = retention_apply(store=store, batch_size=2)

    assert report.deleted == 3 and report.definitions_deleted == 1
    assert not WorkflowInstance.objects.filter(pk__in=[i.pk for i in instances]).exists()
    assert InstanceArchive.objects.filter(definition_id="writes").count() == 3
    assert list(WorkflowDefinition.objects.values_list("definition_id", "version")) == [
        ("writes", 1)]


def test_a_definition_without_instances_is_deleted_at_once(tenant, publish, editor):
    publish(WRITES)
    assert editor.delete(f"{BASE}definitions/writes/").status_code == 204
    assert not WorkflowDefinition.objects.exists()


def test_viewers_read_archives_too(archived, tenant):
    viewer = client_for(MembershipFactory(tenant=tenant, role="viewer").user)
    assert viewer.get(f"{BASE}instances/{archived.pk}/archive/").status_code == 200
