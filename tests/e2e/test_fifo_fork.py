"""Issue 8 hole 10 on real processes: on FIFO queues (`WEFT_SQS_FIFO=1`) a fork's branches run
in parallel on two workers, as on standard queues (each step is its own message group)."""

import contextlib
import uuid

import pytest

from tests.e2e.conftest import publish_definition
from tests.e2e.support.fixtures import E2E_PASSWORD, ensure_test_queues, sqs_env, unique_prefix
from tests.e2e.support.platform import (
    Api,
    WebServer,
    assert_branches_overlapped,
    platform_env,
    start_beat,
    start_worker,
    stop_all,
    wait_until,
)
from tests.e2e.test_distributed import all_finished, fork_workflow

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def fifo_env(local_sqs, e2e_database):
    env = platform_env(sqs_env(local_sqs, WEFT_QUEUE_PREFIX=unique_prefix(), WEFT_SQS_FIFO="1"),
                       e2e_database, WEFT_WORKER_PREFETCH="1")
    urls = ensure_test_queues(env)
    assert all(name.endswith(".fifo") for name in urls)
    return env


@pytest.fixture
def fifo_api(fifo_env, transactional_db):
    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    web = WebServer(fifo_env)
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    membership = tenant_member_ensure(tenant_slug=slug, username=f"{slug}-user", role="editor",
                                      password=E2E_PASSWORD)
    try:
        yield Api(web.url, f"{slug}-user", E2E_PASSWORD)
    finally:
        web.stop()
        with contextlib.suppress(Exception):
            Tenant.objects.filter(pk=membership.tenant_id).delete()


def test_a_forks_branches_run_in_parallel_on_fifo_queues(fifo_env, fifo_api):

    processes = [start_beat(fifo_env), start_worker(fifo_env, "fifo-a", concurrency=1),
                 start_worker(fifo_env, "fifo-b", concurrency=1)]
    try:
        body = fork_workflow("fifo-fan", activity="test.sleep")
        for branch in body["root"]["activities"][1]["branches"]:
            branch["input"] = {"seconds": 3, "label": branch["id"]}
        body["root"]["activities"][2]["value"] = 1
        publish_definition(fifo_api, body)
        instance_id = fifo_api.post("/definitions/fifo-fan/dispatch/").json()["id"]
        wait_until(lambda: all_finished([instance_id]), timeout=90, what="fork finished")
        assert_branches_overlapped(instance_id)
    finally:
        stop_all(processes)
