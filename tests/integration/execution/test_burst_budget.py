"""Bursts on workers honour WEFT_BURST_TIME_BUDGET (issue 8, hole 13): a long run of inline
activities stops when its time is up and hands over as a new step, and never holds the instance
lock past the step's lease."""

from datetime import timedelta

import pytest

from tests.integration.execution.conftest import drain_steps
from workflows.models import JournalEntry, Step, StepKind, StepStatus
from workflows.services.instances import instance_dispatch
from workflows.services.runner import step_process

pytestmark = pytest.mark.django_db

LOOPS = 100_000  # several times what one 0.2 s budget can advance, even on a fast machine


def counting_loop(loops: int) -> dict:
    definition_id = "long-burst"
    return {
        "definition_id": definition_id, "name": definition_id,
        "variables": [{"name": "i", "type": "integer", "default": 0}],
        "outputs": [{"name": "count", "type": "integer"}],
        "root": {"type": "Sequence", "id": "main", "activities": [
            {"type": "While", "id": "loop", "condition": {"expr": f"variables.i < {loops}"},
             "body": {"type": "SetVariable", "id": "inc", "variable": "i",
                      "value": {"expr": "variables.i + 1"}}},
            {"type": "SetOutput", "id": "out", "output": "count", "value": {"expr": "variables.i"}},
        ]},
    }


@pytest.fixture
def long_burst(tenant, publish, settings):
    """`long_burst(loops)`: an instance whose first step is `loops` inline activities."""
    settings.WEFT_BURST_MAX_STEPS = 10_000_000  # only time can stop this burst
    settings.WEFT_STEP_CONTINUE_MAX = 0  # one step per message, as under load

    def make(loops: int):
        publish(counting_loop(loops))
        return instance_dispatch(tenant=tenant, definition_id="long-burst")

    return make


def test_a_long_burst_stops_at_its_time_budget_and_hands_over_as_a_new_step(long_burst,
                                                                           settings):
    settings.WEFT_BURST_TIME_BUDGET = 0.2
    long_burst = long_burst(LOOPS)
    first = Step.objects.get(instance=long_burst)
    assert step_process(step_id=first.id, worker="w") == "done"
    long_burst.refresh_from_db()
    assert long_burst.status == "running", long_burst.variables
    assert 0 < long_burst.variables["i"] < LOOPS
    handed_over = Step.objects.get(instance=long_burst, status=StepStatus.PENDING)
    assert handed_over.kind == StepKind.ADVANCE and handed_over.published_at is not None
    # The workers carry on from there, to the same end as one uninterrupted run.
    drain_steps()
    long_burst.refresh_from_db()
    assert long_burst.status == "finished" and long_burst.output == {"count": LOOPS}
    assert Step.objects.filter(instance=long_burst, kind=StepKind.ADVANCE).count() > 2
    assert not JournalEntry.objects.filter(instance=long_burst, event="incident").exists()


def test_a_burst_never_outlasts_its_steps_lease(long_burst, settings):
    settings.WEFT_BURST_TIME_BUDGET = 600  # the lease is the tighter bound here
    settings.WEFT_STEP_LEASE_SECONDS = 2
    long_burst = long_burst(LOOPS * 5)
    first = Step.objects.get(instance=long_burst)
    assert step_process(step_id=first.id, worker="w") == "done"
    first.refresh_from_db()
    assert first.finished_at < first.started_at + timedelta(seconds=2)
    long_burst.refresh_from_db()
    assert long_burst.status == "running" and 0 < long_burst.variables["i"] < LOOPS * 5
