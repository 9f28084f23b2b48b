"""Large-payload tests run against PostgreSQL and the local S3 (the moto server of the other
suites, over real HTTP), with the archive's fixtures."""

import pytest

from tests.e2e.support.fixtures import local_sqs  # noqa: F401
from tests.integration.execution.conftest import operator, publish, sequence  # noqa: F401
from tests.integration.retention.conftest import bucket, s3, store  # noqa: F401
from workflows import payloads


@pytest.fixture(autouse=True)
def small_threshold(settings):
    """Values of 1,000 characters or more are stored apart; every test starts cold."""
    settings.WEFT_PAYLOAD_INLINE_BYTES = 1000
    payloads.cache.clear()
    payloads.linked.clear()
    yield
    payloads.cache.clear()
    payloads.linked.clear()


BIG = "x" * 5000  # well above the threshold

COPIES = sequence("copies", [
    {"id": "keep", "type": "SetVariable", "variable": "kept", "value": {"expr": "input.data"}},
    {"id": "measure", "type": "SetVariable", "variable": "length",
     "value": {"expr": "len(variables.kept)"}},
    {"id": "out", "type": "SetOutput", "output": "copy", "value": {"expr": "variables.kept"}},
    {"id": "len", "type": "SetOutput", "output": "length", "value": {"expr": "variables.length"}},
], inputs=[{"name": "data", "type": "string"}],
    variables=[{"name": "kept", "type": "string"}, {"name": "length", "type": "number"}],
    outputs=[{"name": "copy", "type": "string"}, {"name": "length", "type": "number"}])
