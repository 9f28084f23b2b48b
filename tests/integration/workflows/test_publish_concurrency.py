import threading

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import definition_body
from workflows.errors import WeftError
from workflows.models import WorkflowDefinition
from workflows.services.definitions import (
    definition_create,
    definition_publish,
    definition_save_draft,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_database_refuses_two_published_versions(tenant, user):
    definition_create(tenant=tenant, user=user, body=definition_body())
    definition_publish(tenant=tenant, user=user, definition_id="hello")
    definition_save_draft(tenant=tenant, user=user, definition_id="hello",
                          body=definition_body(description="v2"))
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowDefinition.objects.filter(tenant=tenant, definition_id="hello").update(
            is_published=True
        )


def test_concurrent_publishes_and_drafts_leave_at_most_one_published(tenant, user):
    definition_create(tenant=tenant, user=user, body=definition_body())
    failures: list[Exception] = []
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for round_ in range(5):
                if index % 2:
                    definition_publish(tenant=tenant, user=user, definition_id="hello")
                else:
                    definition_save_draft(
                        tenant=tenant, user=user, definition_id="hello",
                        body=definition_body(description=f"{index}-{round_}"),
                    )
        except WeftError:
            pass
        except Exception as exc:  # any database error is a failure of the design
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    rows = WorkflowDefinition.objects.filter(tenant=tenant, definition_id="hello")
    assert rows.filter(is_published=True).count() == 1
    assert rows.filter(is_latest=True).count() == 1
    versions = sorted(rows.values_list("version", flat=True))
    assert versions == list(range(1, len(versions) + 1))
