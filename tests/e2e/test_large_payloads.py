"""Large payloads on the real processes (issue 12): a 5 MB activity output flows through a
multi-step workflow on real workers, stored once in S3 (the local moto server), and the REST
API returns it whole; a dispatch as large as the request-size limit allows runs too, one byte
more is a 413. Every message sent to SQS goes through a proxy that records its size: messages
carry step ids, never payloads."""

import hashlib
import json
import uuid

import boto3
import pytest
from botocore.config import Config
from django.db import connection

from tests.e2e.conftest import publish_definition
from tests.e2e.support.fixtures import E2E_PASSWORD, ensure_test_queues, sqs_env
from tests.e2e.support.platform import (
    Api,
    WebServer,
    platform_env,
    start_worker,
    stop_all,
    wait_until,
)
from tests.e2e.support.proxy import FlakyProxy
from tests.support.activities import produce

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FIVE_MB = 5_000_000
REQUEST_LIMIT = 1_048_576  # WEFT_MAX_REQUEST_BYTES's default
INLINE_LIMIT = 65_536  # WEFT_PAYLOAD_INLINE_BYTES's default
# A step's message: Celery's envelope around one step id (or ten), whatever the step carries.
MESSAGE_LIMIT = 8 * 1024

BIG_FLOW = {
    "definition_id": "big-flow", "name": "big-flow",
    "inputs": [{"name": "size", "type": "integer", "default": FIVE_MB}],
    "outputs": [{"name": "length", "type": "number"}, {"name": "sha256", "type": "string"},
                {"name": "seen", "type": "number"}],
    "root": {"type": "Sequence", "id": "main", "activities": [
        {"type": "test.produce", "id": "produce", "input": {"size": {"expr": "input.size"}}},
        {"type": "test.measure", "id": "measure", "input": {"data": {"expr": "outputs.produce"}}},
        {"type": "SetOutput", "id": "length", "output": "length",
         "value": {"expr": "outputs.measure.length"}},
        {"type": "SetOutput", "id": "sha", "output": "sha256",
         "value": {"expr": "outputs.measure.sha256"}},
        {"type": "SetOutput", "id": "seen", "output": "seen",
         "value": {"expr": "len(outputs.produce)"}},
    ]},
}

ECHO = {
    "definition_id": "echo-size", "name": "echo-size",
    "inputs": [{"name": "data", "type": "string"}],
    "outputs": [{"name": "length", "type": "number"}, {"name": "sha256", "type": "string"}],
    "root": {"type": "Sequence", "id": "main", "activities": [
        {"type": "test.measure", "id": "measure", "input": {"data": {"expr": "input.data"}}},
        {"type": "SetOutput", "id": "length", "output": "length",
         "value": {"expr": "outputs.measure.length"}},
        {"type": "SetOutput", "id": "sha", "output": "sha256",
         "value": {"expr": "outputs.measure.sha256"}},
    ]},
}


@pytest.fixture(scope="module")
def proxy(local_sqs):
    with FlakyProxy(local_sqs.url) as running:
        yield running


@pytest.fixture(scope="module")
def bucket(local_sqs):
    name = f"weft-payloads-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=local_sqs.url, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def payload_env(local_sqs, proxy, bucket, e2e_database):
    # Web and workers send to SQS through the proxy; S3 is the moto server itself.
    env = platform_env(sqs_env(proxy.url), e2e_database, WEFT_ARCHIVE_BUCKET=bucket,
                       WEFT_ARCHIVE_PREFIX="weft", AWS_ENDPOINT_URL_S3=local_sqs.url)
    ensure_test_queues(env)
    return env


@pytest.fixture(scope="module")
def platform(payload_env):
    web = WebServer(payload_env)
    workers = [start_worker(payload_env, "big1"), start_worker(payload_env, "big2")]
    try:
        yield web
    finally:
        stop_all(workers)
        web.stop()


@pytest.fixture
def api(platform, transactional_db):
    from workflows.models import Tenant
    from workflows.services.tenancy import tenant_member_ensure

    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    membership = tenant_member_ensure(tenant_slug=slug, username=f"{slug}-user",
                                      role="editor", password=E2E_PASSWORD)
    yield Api(platform.url, f"{slug}-user", E2E_PASSWORD)
    Tenant.objects.filter(pk=membership.tenant_id).delete()


def finished(api: Api, instance_id: str) -> dict | None:
    detail = api.get(f"/instances/{instance_id}/").json()
    assert detail["status"] in ("pending", "running", "finished"), detail
    return detail if detail["status"] == "finished" else None


def largest_columns(instance_id: str) -> dict:
    """The largest JSON column of each table this instance wrote, as the database holds it."""
    queries = {
        "instance": "SELECT greatest(length(state::text), length(variables::text), "
                    "length(output::text), length(input::text)) "
                    "FROM workflows_workflowinstance WHERE id = %s",
        "steps": "SELECT max(length(payload::text)) FROM workflows_step WHERE instance_id = %s",
        "executions": "SELECT max(greatest(length(input::text), length(output::text))) "
                      "FROM workflows_activityexecution WHERE instance_id = %s",
        "journal": "SELECT max(length(data::text)) FROM workflows_journalentry "
                   "WHERE instance_id = %s",
    }
    found = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [instance_id])
            found[name] = cursor.fetchone()[0] or 0
    return found


def test_a_5_mb_activity_output_flows_through_a_workflow_on_real_workers(api, proxy, bucket,
                                                                          local_sqs):
    from workflows.models import PayloadObject

    expected = produce(size=FIVE_MB)
    digest = hashlib.sha256(expected.encode()).hexdigest()
    publish_definition(api, BIG_FLOW)
    sends_before = len(proxy.send_sizes)

    started = api.post("/definitions/big-flow/dispatch/", {"input": {}})
    assert started.status_code == 202, started.text
    instance_id = started.json()["id"]
    detail = wait_until(lambda: finished(api, instance_id), timeout=180,
                        what="the 5 MB workflow finished")

    # The next activity read the value whole, and so did an expression.
    assert detail["output"] == {"length": FIVE_MB, "sha256": digest, "seen": FIVE_MB}
    executions = api.get(f"/instances/{instance_id}/activity-executions/").json()["results"]
    by_activity = {e["activity_id"]: e for e in executions}
    assert hashlib.sha256(by_activity["produce"]["output"].encode()).hexdigest() == digest
    assert by_activity["measure"]["input"]["input"] == {"data": expected}

    # In the rows: references only. In S3: the value once (output, state, the next step's
    # input, both records), gzip.
    sizes = largest_columns(instance_id)
    assert max(sizes.values()) < INLINE_LIMIT, sizes
    (stored,) = PayloadObject.objects.filter(size__gte=FIVE_MB)
    assert stored.store == "s3" and stored.key.startswith("weft/payloads/")
    s3 = boto3.client("s3", endpoint_url=local_sqs.url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(s3={"addressing_style": "path"}))
    head = s3.head_object(Bucket=bucket, Key=stored.key)
    assert head["ContentLength"] == stored.stored_size < FIVE_MB

    sends = proxy.send_sizes[sends_before:]
    assert sends and max(sends) < MESSAGE_LIMIT, sends


def test_a_dispatch_as_large_as_the_request_limit_runs_and_one_byte_more_is_413(api, proxy):
    publish_definition(api, ECHO)
    sends_before = len(proxy.send_sizes)
    envelope = len(json.dumps({"input": {"data": ""}}))
    data = produce(size=REQUEST_LIMIT - envelope)
    body = json.dumps({"input": {"data": data}})
    assert len(body) == REQUEST_LIMIT

    response = api.client.post("/definitions/echo-size/dispatch/", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text[:500]
    instance_id = response.json()["id"]
    detail = wait_until(lambda: finished(api, instance_id), timeout=120,
                        what="the 1 MiB dispatch finished")
    assert detail["input"] == {"data": data}
    assert detail["output"] == {"length": len(data),
                                "sha256": hashlib.sha256(data.encode()).hexdigest()}
    assert max(largest_columns(instance_id).values()) < INLINE_LIMIT

    too_large = api.client.post("/definitions/echo-size/dispatch/", content=body + " ",
                                headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413
    assert too_large.json() == {"error": {
        "code": "payload_too_large",
        "message": f"Request body is {REQUEST_LIMIT + 1} bytes; the limit is {REQUEST_LIMIT} "
                   "bytes (WEFT_MAX_REQUEST_BYTES).",
        "details": {"limit": REQUEST_LIMIT, "size": REQUEST_LIMIT + 1}}}

    sends = proxy.send_sizes[sends_before:]
    assert sends and max(sends) < MESSAGE_LIMIT, sends
