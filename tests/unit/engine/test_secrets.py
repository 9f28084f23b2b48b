"""`secrets.NAME` in the pure engine: resolved lazily through the installed source, masked in
everything a call returns, sealed into task inputs and unsealed only for the task."""

import json

import pytest

from runtime.activities import default_registry
from runtime.engine import execute_task
from runtime.engine import secrets as engine_secrets
from tests.unit.engine.helpers import Driver, definition, expr, log, seq

VALUE = "hunter2-very-secret"


class FakeSource:
    def __init__(self, values: dict):
        self.values = values
        self.reads: list = []

    def resolve(self, instance_id, name):
        self.reads.append((instance_id, name))
        return self.values.get(name)

    def marker_key(self):
        return b"unit-test-key"


@pytest.fixture
def source():
    fake = FakeSource({"TOKEN": VALUE})
    engine_secrets.install_secret_source(fake)
    yield fake
    engine_secrets.install_secret_source(None)


def test_secrets_are_read_only_when_used(source):
    Driver(definition(seq("main", log("a", "no secrets here")))).advance()
    assert source.reads == []


def test_a_secret_in_a_template_is_masked_in_the_journal_and_state(source):
    body = definition(seq("main", log("a", {"template": "token={{ secrets.TOKEN }}"}),
                          {"id": "v", "type": "SetVariable", "variable": "t",
                           "value": expr("secrets['TOKEN'].upper()")}),
                      variables=[{"name": "t", "type": "string"}])
    driver = Driver(body)
    result = driver.advance()
    assert driver.logs() == ["token=***"]
    assert driver.state["variables"]["t"] == VALUE.upper()  # not the value itself
    dumped = json.dumps(result.as_dict()) + json.dumps(driver.state)
    assert VALUE not in dumped
    assert source.reads == [("inst-1", "TOKEN")]


@pytest.mark.parametrize("text", [{"template": "x{{ secrets.NOPE }}y"}, expr("secrets.NOPE")])
def test_an_unknown_secret_is_an_incident_never_an_empty_string(source, text):
    driver = Driver(definition(seq("main", log("a", text))))
    result = driver.advance()
    assert result.status == "faulted"
    assert "unknown secret 'NOPE'" in result.incidents[0]["message"]


def test_task_inputs_carry_a_signed_marker_that_only_the_task_expands(source):
    body = definition(seq("main", {"id": "probe", "type": "SendHttpRequest",
                                   "url": "http://example.invalid/",
                                   "headers": expr("{'Authorization': secrets.TOKEN}")}))
    result = Driver(body).advance()
    (task,) = result.tasks
    header = task.input["headers"]["Authorization"]
    assert VALUE not in json.dumps(task.as_dict())
    assert header.startswith("[[weft-secret:TOKEN:")
    expanded, used = engine_secrets.unseal(task.input, task.instance_id)
    assert expanded["headers"]["Authorization"] == VALUE
    assert used == [VALUE]
    # The same marker for another instance is not genuine there.
    elsewhere, used_elsewhere = engine_secrets.unseal(task.input, "inst-2")
    assert elsewhere["headers"]["Authorization"] == header
    assert used_elsewhere == []


def test_a_task_error_mentioning_the_value_is_masked(source):
    from runtime.engine import TaskRequest

    marker = engine_secrets.seal("x" + VALUE, {"TOKEN": VALUE}, "inst-1")
    request = TaskRequest(key="w1", instance_id="inst-1", definition_id="d", activity_id="a",
                          activity_type="SendHttpRequest",
                          input={"url": f"http://{marker}.invalid/", "method": "GET",
                                 "headers": {}, "body": None, "timeout": 1,
                                 "expected_status": [200]})
    with pytest.raises(Exception) as raised:
        execute_task(default_registry(), request, request.context(), http_allowed_hosts=())
    assert "could not resolve host 'x***.invalid'" in str(raised.value).lower()
    assert VALUE not in str(raised.value)
    cause = raised.value.__cause__ or raised.value.__context__
    assert cause is not None
    assert VALUE not in str(cause)


def test_masking_skips_values_too_short_to_mask_safely():
    assert engine_secrets.masked_values(["abc", "abcd"]) == ["abcd"]
    data = {"a": ["xx abcd xx", {"abcd": 1}]}
    engine_secrets.mask_in_place(data, ["abcd"])
    assert data == {"a": ["xx *** xx", {"***": 1}]}
