"""The workflow, activity and step instruments count what committed, with bounded labels."""

import pytest
from django.db import connections, transaction
from prometheus_client import REGISTRY

from tests.integration.execution.conftest import drain_steps, sequence
from workflows.instruments import pool_stats_sample
from workflows.services.inline import instance_execute
from workflows.services.instances import instance_dispatch

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_dispatched_workflow_counts_start_finish_duration_activities_and_steps(tenant,
                                                                                 publish):
    publish(sequence("counted", [
        {"id": "add", "type": "examples.add", "input": {"a": 1, "b": 2}},
        {"id": "no", "type": "test.refuse"},
    ]))
    before = {
        "started": sample("weft_instances_started_total", definition_id="counted"),
        "faulted": sample("weft_instances_finished_total", definition_id="counted",
                          status="faulted"),
        "duration": sample("weft_workflow_duration_seconds_count", definition_id="counted",
                           status="faulted"),
        "add": sample("weft_activity_executions_total", activity_type="examples.add",
                      outcome="completed"),
        "refused": sample("weft_activity_executions_total", activity_type="test.refuse",
                          outcome="faulted"),
        "steps": sample("weft_steps_processed_total", queue="workflow-tasks", outcome="done"),
    }
    instance_dispatch(tenant=tenant, definition_id="counted")
    assert sample("weft_instances_started_total", definition_id="counted") == \
        before["started"] + 1
    ran = drain_steps()
    assert sample("weft_instances_finished_total", definition_id="counted",
                  status="faulted") == before["faulted"] + 1
    assert sample("weft_workflow_duration_seconds_count", definition_id="counted",
                  status="faulted") == before["duration"] + 1
    assert sample("weft_activity_executions_total", activity_type="examples.add",
                  outcome="completed") == before["add"] + 1
    assert sample("weft_activity_executions_total", activity_type="test.refuse",
                  outcome="faulted") == before["refused"] + 1
    assert sample("weft_steps_processed_total", queue="workflow-tasks",
                  outcome="done") >= before["steps"] + ran - 1


def test_a_rolled_back_start_counts_nothing(tenant, publish):
    publish(sequence("undone", [{"id": "w", "type": "WriteLine", "text": "x"}]))
    before = sample("weft_instances_started_total", definition_id="undone")
    with pytest.raises(RuntimeError), transaction.atomic():
        instance_execute(tenant=tenant, definition_id="undone")
        raise RuntimeError("roll back")
    assert sample("weft_instances_started_total", definition_id="undone") == before
    instance_execute(tenant=tenant, definition_id="undone")
    assert sample("weft_instances_started_total", definition_id="undone") == before + 1
    assert sample("weft_instances_finished_total", definition_id="undone",
                  status="finished") >= 1


def test_pool_statistics_come_from_the_pool_itself():
    connection = connections["default"]
    connection.ensure_connection()
    pool_stats_sample()
    pool = type(connection)._connection_pools.get("default")
    if pool is None:
        pytest.skip("the test settings run without a connection pool")
    assert sample("weft_db_pool_max_size", alias="default") == pool.max_size
    assert sample("weft_db_pool_size", alias="default") >= 1
    assert sample("weft_db_pool_in_use", alias="default") >= 1  # this test holds one
