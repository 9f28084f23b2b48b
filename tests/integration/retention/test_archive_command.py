import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from tests.integration.retention.conftest import FAULTS, ended
from workflows.services.retention import retention_apply

pytestmark = pytest.mark.django_db


def show(*args) -> str:
    out = io.StringIO()
    call_command("weft_archive_show", *args, stdout=out)
    return out.getvalue()


def test_the_command_brings_an_archived_instance_back(tenant, publish, store, bucket):
    publish(FAULTS)
    instance = ended(tenant, "faults", days_ago=100)
    retention_apply(store=store)

    document = json.loads(show(str(instance.pk)))
    assert document["archive"]["bucket"] == bucket
    assert document["instance"]["status"] == "faulted"
    assert [incident["code"] for incident in document["incidents"]] == ["E1"]

    lines = [json.loads(line) for line in show(str(instance.pk), "--jsonl").splitlines()]
    assert lines[0] == {"record": "instance", "data": document["instance"]}
    assert {line["record"] for line in lines} >= {"journal", "incident"}


def test_the_command_says_when_there_is_no_archive(store):
    with pytest.raises(CommandError, match="no archive"):
        show(str(uuid.uuid4()))
    with pytest.raises(CommandError, match="not an instance id"):
        show("nope")
