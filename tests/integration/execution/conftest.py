import pytest

from tests.support.spec_example import ORDER_APPROVAL
from workflows.services.definitions import definition_create, definition_publish

SPEC_EXAMPLE = ORDER_APPROVAL


@pytest.fixture
def publish(tenant, user):
    """`publish(body)` creates and publishes a definition in the acme tenant."""

    def make(body: dict) -> str:
        definition_create(tenant=tenant, user=user, body=body)
        definition_publish(tenant=tenant, user=user, definition_id=body["definition_id"])
        return body["definition_id"]

    return make


@pytest.fixture
def operator(member_client):
    return member_client("operator")


def sequence(definition_id: str, activities: list, **extra) -> dict:
    return {"definition_id": definition_id, "name": definition_id,
            "root": {"type": "Sequence", "id": "main", "activities": activities}, **extra}


def drain_steps(limit: int = 1000) -> int:
    """Run due steps the way a worker does (through `step_process`) until none is left; returns
    how many ran. Steps of held instances are not due (the sweeper skips them too).
    Integration tests use it instead of a broker; e2e tests use real workers."""
    from django.utils import timezone

    from workflows.models import Step, StepStatus
    from workflows.services.runner import step_process

    ran = 0
    while ran < limit:
        step_id = (Step.objects.filter(status=StepStatus.PENDING, run_after__lte=timezone.now(),
                                        instance__held=False)
                   .order_by("created_at").values_list("id", flat=True).first())
        if step_id is None:
            return ran
        step_process(step_id=step_id, worker="test")
        ran += 1
    raise AssertionError(f"steps still pending after {limit} runs")
