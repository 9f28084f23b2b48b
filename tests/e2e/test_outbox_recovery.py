"""Issue 8 hole 9 on real processes (gunicorn, celery worker, celery beat, local SQS):

- the web process dies between committing a dispatched instance and sending its first step
  (its SQS send hangs in a proxy, then the process is killed): beat's sweeper sends the step
  again within seconds and a worker runs it;
- steps whose messages wait in a queue nobody consumes yet are not sent again, however long
  the sweeper runs meanwhile: each is delivered once.

Both run with the production defaults for re-publishing (`WEFT_STEP_REPUBLISH_AFTER`,
`WEFT_STEP_LOST_AFTER`), which the old single threshold could not serve at once: 330 s made a
crash cost five minutes, and a short one duplicated every message waiting in a deep queue.
"""

import contextlib
import threading
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import publish_definition
from tests.e2e.support.fixtures import (
    E2E_PASSWORD,
    ensure_test_queues,
    sqs_client,
    unique_prefix,
)
from tests.e2e.support.platform import (
    Api,
    WebServer,
    kill_group,
    start_beat,
    start_worker,
    stop_all,
    wait_until,
)
from tests.e2e.support.proxy import FlakyProxy
from tests.e2e.support.workers import read_log
from tests.e2e.test_distributed import all_finished
from workflows.sqs.config import sqs_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HELLO = {"definition_id": "hello", "name": "hello",
         "root": {"type": "Sequence", "id": "main", "activities": [
             {"type": "WriteLine", "id": "w", "text": "hi"}]}}


@pytest.fixture
def env(e2e_env):
    """The platform's environment with the production defaults for re-publishing, on queues
    of this test's own."""
    defaults = {k: v for k, v in e2e_env.items()
                if k not in ("WEFT_STEP_REPUBLISH_AFTER", "WEFT_STEP_LOST_AFTER")}
    defaults["WEFT_QUEUE_PREFIX"] = unique_prefix()
    ensure_test_queues(defaults)
    return defaults


@pytest.fixture
def platform(env, local_sqs, transactional_db):
    """(tenant, Api, web, proxy): a web server whose SQS requests pass through a proxy."""
    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    proxy = FlakyProxy(local_sqs.url).start()
    web = WebServer({**env, "AWS_ENDPOINT_URL_SQS": proxy.url})
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    membership = tenant_member_ensure(tenant_slug=slug, username=f"{slug}-user", role="editor",
                                      password=E2E_PASSWORD)
    try:
        api = Api(web.url, f"{slug}-user", E2E_PASSWORD)
        publish_definition(api, HELLO)
        yield membership.tenant, api, web, proxy
    finally:
        proxy.release()
        with contextlib.suppress(Exception):
            web.stop()
        proxy.stop()
        with contextlib.suppress(Exception):
            Tenant.objects.filter(pk=membership.tenant_id).delete()


def test_a_step_whose_web_process_died_before_sending_it_runs_within_seconds(env, platform):
    from workflows.models import Step

    tenant, api, web, proxy = platform
    processes = [start_beat(env), start_worker(env, "rescuer")]
    try:
        proxy.hang_sends = True

        def dispatch():
            with contextlib.suppress(httpx.HTTPError):
                api.post("/definitions/hello/dispatch/")

        threading.Thread(target=dispatch, daemon=True).start()
        step = wait_until(lambda: Step.objects.filter(tenant=tenant).first(), timeout=30,
                          what="the dispatched step committed")
        wait_until(lambda: any(a.startswith("SendMessage") for a in proxy.actions), timeout=30,
                   what="the send hanging")
        kill_group(web.process)  # dies mid-send: committed, never sent
        assert Step.objects.get(pk=step.pk).sent_at is None
        # The sweeper re-sends it after WEFT_STEP_REPUBLISH_AFTER (5 s by default); the old
        # threshold (330 s) would have let this wait time out.
        wait_until(lambda: all_finished([step.instance_id]), timeout=60,
                   what="the instance finished after its publisher died")
        step.refresh_from_db()
        assert (step.status, step.publish_count, step.deliveries) == ("done", 2, 1)
    finally:
        stop_all(processes)


def test_steps_waiting_in_the_queue_are_not_sent_again(env, platform):
    from workflows.models import Step

    tenant, api, _, _ = platform
    # Its own queue, which no worker consumes yet, while a worker of the default queue runs
    # beat's sweeps every second.
    publish_definition(api, {**HELLO, "definition_id": "queued", "name": "queued",
                             "options": {"queue": "priority"}})
    # DEBUG: Celery's lines about the once-a-second housekeeping tasks are hidden at INFO.
    processes = [start_beat(env),
                 start_worker({**env, "LOG_LEVEL": "DEBUG"}, "sweeper", loglevel="DEBUG")]
    try:
        ids = [api.post("/definitions/queued/dispatch/").json()["id"] for _ in range(20)]
        wait_until(lambda: Step.objects.filter(tenant=tenant, sent_at__isnull=False).count()
                   == 20, timeout=30, what="all sends confirmed")
        # Far longer than the grace for unconfirmed sends.
        time.sleep(15)
        client = sqs_client(env)
        url = client.get_queue_url(QueueName=sqs_settings(env).sqs_queue("priority"))["QueueUrl"]
        depth = client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        assert int(depth["ApproximateNumberOfMessages"]) == 20
        assert set(Step.objects.filter(tenant=tenant).values_list("publish_count", flat=True)) \
            == {1}
        assert read_log(processes[1]).count("weft.sweep_steps") >= 10  # the sweeper did run
        processes.append(start_worker(env, "late", queues=["priority"]))
        wait_until(lambda: all_finished(ids), timeout=90, what="all instances finished")
        assert set(Step.objects.filter(tenant=tenant).values_list("deliveries", flat=True)) \
            == {1}
    finally:
        stop_all(processes)
