import pytest

from runtime.activities import default_registry
from runtime.engine import (
    DEFAULT_RETRY_POLICY,
    NonRetryableError,
    RegistryError,
    TaskContext,
    TaskFailure,
    TaskRequest,
    activity,
    compile_definition,
    execute_task,
    retry_delay,
    should_retry,
    validate_definition,
)
from tests.unit.engine.helpers import Driver, definition, expr, fresh_registry, log, seq


@pytest.fixture
def registry():
    registry = fresh_registry()

    @activity("billing.charge", retry={"max_attempts": 5}, timeout=30, registry=registry)
    def charge(*, order_id: str, amount: float, currency: str = "EUR", context) -> dict:
        """Charges an order."""
        return {"charged": amount, "order": order_id, "currency": currency,
                "key": context.idempotency_key, "attempt": context.attempt}

    @activity("billing.refuse", registry=registry)
    def refuse(*, reason: str | None = None) -> None:
        raise NonRetryableError(reason or "no")

    return registry


CHARGE = {"id": "charge", "type": "billing.charge",
          "input": {"order_id": {"expr": "input.order_id"}, "amount": 12.5}}
CHARGE_LITERAL = {"id": "charge", "type": "billing.charge",
                  "input": {"order_id": "o-1", "amount": 12.5}}


def test_user_activity_descriptor_is_derived_from_the_signature(registry):
    descriptor = registry.get("billing.charge").descriptor()
    assert descriptor["kind"] == "task" and descriptor["family"] == "user"
    assert descriptor["description"] == "Charges an order."
    props = {p["name"]: p for p in descriptor["properties"]}
    assert set(props) == {"order_id", "amount", "currency"}  # context is not a property
    assert (props["order_id"]["type"], props["order_id"]["required"]) == ("string", True)
    assert (props["amount"]["type"], props["amount"]["required"]) == ("number", True)
    assert (props["currency"]["required"], props["currency"]["default"]) == (False, "EUR")
    assert descriptor["retry"]["max_attempts"] == 5 and descriptor["timeout"] == 30


def test_optional_annotation_makes_a_parameter_not_required(registry):
    props = registry.get("billing.refuse").descriptor()["properties"]
    assert props == [{"name": "reason", "type": "string", "required": False,
                      "description": "", "default": None, "expressions": True}]


def test_user_activity_becomes_a_task_request_and_its_result_the_output(registry):
    body = definition(seq("s", CHARGE, log("l", expr("str(outputs['charge']['charged'])"))),
                      inputs=[{"name": "order_id", "type": "string"}])
    d = Driver(body, input={"order_id": "o-1"}, registry=registry)
    result = d.advance()
    assert result.status == "running"
    request = result.tasks[0]
    assert (request.activity_type, request.input) == ("billing.charge",
                                                      {"order_id": "o-1", "amount": 12.5})
    assert request.retry["max_attempts"] == 5 and request.timeout == 30
    assert request.idempotency_key == f"inst-1:{request.key}"
    restored = TaskRequest.from_dict(request.as_dict())
    output = execute_task(registry, restored, restored.context(step_id="step-1"))
    assert output["charged"] == 12.5 and output["key"] == request.idempotency_key
    assert d.complete(request.key, output).status == "finished"
    assert d.logs() == ["12.5"]


def test_node_retry_overrides_the_decorator_default(registry):
    node = dict(CHARGE_LITERAL, retry={"max_attempts": 2, "initial_interval": 5})
    d = Driver(definition(node), registry=registry)
    policy = d.advance().tasks[0].retry
    assert (policy["max_attempts"], policy["initial_interval"]) == (2, 5)


def test_missing_required_argument_is_a_validation_problem(registry):
    problems = validate_definition(
        definition({"id": "c", "type": "billing.charge", "input": {"amount": "x"}}), registry)
    assert {(p.path, p.message) for p in problems} >= {
        ("root.input.order_id", "required"),
        ("root.input.amount", "must be of type number, got string"),
    }


def test_unknown_argument_is_a_validation_problem(registry):
    problems = validate_definition(definition(dict(CHARGE, input={
        "order_id": "a", "amount": 1, "colour": "red"})), registry)
    assert [p.path for p in problems] == ["root.input.colour"]


def test_non_retryable_error_propagates_and_skips_retries(registry):
    request = TaskRequest(key="k", instance_id="i", definition_id=None, activity_id="r",
                          activity_type="billing.refuse", input={"reason": "card stolen"})
    with pytest.raises(NonRetryableError) as caught:
        execute_task(registry, request, request.context())
    assert should_retry(request.retry, 1, caught.value) is False
    assert should_retry(request.retry, 1, RuntimeError("flaky")) is True
    assert should_retry(request.retry, 3, RuntimeError("flaky")) is False


def test_task_failing_for_good_raises_an_incident_and_faults(registry):
    d = Driver(definition(CHARGE_LITERAL), registry=registry)
    key = d.advance().tasks[0].key
    result = d.fail(key, "card declined")
    assert result.status == "faulted"
    assert "card declined" in result.incidents[0]["message"]
    assert result.incidents[0]["activity_id"] == "charge"


def test_task_failing_with_continue_strategy_goes_on(registry):
    body = definition(seq("s", CHARGE_LITERAL, log("l", "after")),
                      options={"incident_strategy": "continue"})
    d = Driver(body, registry=registry)
    result = d.fail(d.advance().tasks[0].key, "card declined")
    assert result.status == "finished"
    assert d.logs() == ["after"]


def test_registering_a_different_function_under_a_taken_name_is_an_error(registry):
    with pytest.raises(RegistryError):
        @activity("billing.charge", registry=registry)
        def other(*, x: int) -> int:
            return x


def test_user_activity_cannot_take_a_builtin_name(registry):
    with pytest.raises(RegistryError):
        @activity("WriteLine", registry=registry)
        def write(*, text: str) -> str:
            return text


def test_positional_parameters_are_refused():
    with pytest.raises(RegistryError):
        @activity("test.positional", registry=fresh_registry())
        def positional(a, /):
            return a


def test_decorator_registers_in_the_default_registry_and_keeps_the_function():
    from runtime import activity as public_activity

    @public_activity("tests.unit.double")
    def double(*, n: int) -> int:
        return n * 2

    assert double(n=4) == 8
    assert default_registry().get("tests.unit.double").descriptor()["properties"][0]["name"] == "n"
    plan = compile_definition(definition({"id": "d", "type": "tests.unit.double",
                                          "input": {"n": 1}}), default_registry())
    assert plan.nodes["d"].type == "tests.unit.double"


def test_output_that_is_not_json_is_refused():
    registry = fresh_registry()

    @activity("test.bad", registry=registry)
    def bad() -> object:
        return object()

    request = TaskRequest(key="k", instance_id="i", definition_id=None, activity_id="b",
                          activity_type="test.bad", input={})
    with pytest.raises(NonRetryableError):
        execute_task(registry, request, TaskContext("i", None, 1, None, "i:k"))


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 10, 50, 1000])
@pytest.mark.parametrize("jitter", [0.0, 0.5, 1.0])
def test_retry_delay_stays_between_jittered_and_full_backoff_and_under_max(attempt, jitter):
    policy = {"initial_interval": 2, "max_interval": 60, "jitter": 0.25}
    delay = retry_delay(policy, attempt, jitter)
    full = min(2 * 2 ** (attempt - 1), 60)
    assert 0.75 * full <= delay <= full <= 60


def test_retry_delay_grows_exponentially_without_jitter():
    delays = [retry_delay(DEFAULT_RETRY_POLICY, n, 0.0) for n in (1, 2, 3, 4)]
    assert delays == [1, 2, 4, 8]


def test_retry_delay_supports_fixed_and_linear_backoff():
    assert retry_delay({"backoff": "fixed", "initial_interval": 3}, 7, 0) == 3
    assert retry_delay({"backoff": "linear", "initial_interval": 3}, 4, 0) == 12


HTTP = {"id": "call", "type": "SendHttpRequest", "url": "https://example.com/x",
        "expected_status": [200, 201]}


def _http_flow():
    return definition({"id": "fc", "type": "Flowchart", "activities": [
        HTTP, log("ok", "ok"), log("created", "created"), log("bad", "bad")],
        "connections": [
            {"source": "call", "outcome": "200", "target": "ok"},
            {"source": "call", "outcome": "201", "target": "created"},
            {"source": "call", "outcome": "failed", "target": "bad"}]})


def test_send_http_request_takes_the_outcome_of_an_expected_status():
    d = Driver(_http_flow())
    request = d.advance().tasks[0]
    assert request.input["method"] == "GET" and request.input["timeout"] == 30
    d.complete(request.key, {"status": 201, "headers": {}, "body": None})
    assert d.logs() == ["created"]


def test_send_http_request_takes_failed_for_an_unexpected_status():
    d = Driver(_http_flow())
    d.complete(d.advance().tasks[0].key, {"status": 500, "headers": {}, "body": "oops"})
    assert d.logs() == ["bad"]


def test_send_http_request_that_never_got_an_answer_takes_failed():
    d = Driver(_http_flow())
    result = d.fail(d.advance().tasks[0].key, "connection_error: refused")
    assert result.status == "finished"
    assert result.incidents == []
    assert d.logs() == ["request failed: connection_error: refused", "bad"]


def test_send_http_request_connection_outcomes_follow_expected_status():
    problems = validate_definition(definition({"id": "fc", "type": "Flowchart", "activities": [
        HTTP, log("a", "a")], "connections": [{"source": "call", "outcome": "404",
                                               "target": "a"}]}), default_registry())
    assert [p.path for p in problems] == ["root.connections[0].outcome"]


def test_send_http_request_task_maps_transport_errors_to_retryable_failures(monkeypatch):
    from runtime.activities import http_client

    def unreachable(**kwargs):
        raise http_client.HttpRequestError("refused", "connection_error")

    def bad_url(**kwargs):
        raise http_client.HttpRequestError("no host", "invalid_url")

    registry = fresh_registry()
    request = TaskRequest(key="k", instance_id="i", definition_id=None, activity_id="call",
                          activity_type="SendHttpRequest",
                          input={"url": "https://x", "method": "GET", "headers": {},
                                 "body": None, "timeout": 5, "expected_status": [200]})
    monkeypatch.setattr(http_client, "send_request", unreachable)
    with pytest.raises(TaskFailure) as caught:
        execute_task(registry, request, request.context())
    assert should_retry(request.retry, 1, caught.value) is True
    monkeypatch.setattr(http_client, "send_request", bad_url)
    with pytest.raises(TaskFailure) as caught:
        execute_task(registry, request, request.context())
    assert should_retry(request.retry, 1, caught.value) is False


def _http_in_sequence(**options):
    return definition(seq("main", HTTP, log("after", "after")),
                      **({"options": options} if options else {}))


def test_unrouted_failed_request_in_a_sequence_faults_with_an_incident():
    d = Driver(_http_in_sequence())
    d.complete(d.advance().tasks[0].key, {"status": 503, "headers": {}, "body": "down"})
    state = d.state
    assert state["status"] == "faulted"
    assert d.logs() == []  # the activity after it never ran
    incident = state["incidents"][-1]
    assert incident["code"] == "unrouted_failure" and incident["activity_id"] == "call"
    assert "status 503" in incident["message"]
    record = [r for r in d.results[-1].executions if r["activity_id"] == "call"][-1]
    assert record["status"] == "faulted" and record["output"]["status"] == 503


def test_unrouted_failure_of_a_request_that_never_got_an_answer_names_the_error():
    d = Driver(_http_in_sequence())
    d.fail(d.advance().tasks[0].key, error="connection_error: refused")
    assert d.state["status"] == "faulted"
    assert "connection_error: refused" in d.state["incidents"][-1]["message"]


def test_unrouted_failure_fault_is_retryable_from_the_request():
    from runtime.engine import retry

    d = Driver(_http_in_sequence())
    d.complete(d.advance().tasks[0].key, {"status": 500, "headers": {}, "body": None})
    again = d._call(retry, max_steps=100)
    assert again.tasks and again.tasks[0].activity_id == "call"
    d.complete(again.tasks[0].key, {"status": 200, "headers": {}, "body": None})
    assert d.state["status"] == "finished" and d.logs() == ["after"]


def test_a_definition_can_opt_into_continuing_after_an_unrouted_failure():
    d = Driver(_http_in_sequence(unrouted_failure="continue"))
    d.complete(d.advance().tasks[0].key, {"status": 500, "headers": {}, "body": None})
    assert d.state["status"] == "finished" and d.logs() == ["after"]
    assert d.state["incidents"] == []


def test_a_connected_failed_outcome_is_routed_not_faulted():
    d = Driver(_http_flow())
    d.fail(d.advance().tasks[0].key, error="timeout")
    assert d.state["status"] == "finished" and d.logs()[-1] == "bad"


def test_a_flowchart_that_connects_only_success_faults_on_failure():
    body = definition({"id": "fc", "type": "Flowchart", "activities": [HTTP, log("ok", "ok")],
                       "connections": [{"source": "call", "outcome": "200", "target": "ok"}]})
    d = Driver(body)
    d.complete(d.advance().tasks[0].key, {"status": 404, "headers": {}, "body": None})
    assert d.state["status"] == "faulted"


def test_incident_strategy_continue_still_records_the_unrouted_failure():
    d = Driver(_http_in_sequence(incident_strategy="continue"))
    d.complete(d.advance().tasks[0].key, {"status": 500, "headers": {}, "body": None})
    assert d.state["status"] == "finished" and d.logs() == ["after"]
    assert d.state["incidents"][-1]["code"] == "unrouted_failure"


def test_unknown_unrouted_failure_option_is_a_validation_error():
    from runtime.engine.errors import DefinitionInvalid

    with pytest.raises(DefinitionInvalid) as caught:
        Driver(_http_in_sequence(unrouted_failure="ignore"))
    assert [p.path for p in caught.value.problems] == ["options.unrouted_failure"]
