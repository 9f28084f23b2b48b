"""Compiled plans, once per published definition version and process.

A version that has ever been published is never edited again (a new version is created
instead), so its primary key identifies its plan for good.
"""

import threading

from runtime.activities import default_registry
from runtime.engine import WorkflowPlan, compile_definition

MAX_CACHED_PLANS = 512
_plans: dict[int, WorkflowPlan] = {}
_lock = threading.Lock()


def plan_for(*, definition_pk: int, body: dict | None = None) -> WorkflowPlan:
    """The plan of a definition version; its body is read from the database on a miss when
    not given."""
    plan = _plans.get(definition_pk)
    if plan is None:
        if body is None:
            from workflows.models import WorkflowDefinition

            body = WorkflowDefinition.objects.values_list("body", flat=True).get(pk=definition_pk)
        plan = compile_definition(body, default_registry())
        with _lock:
            if len(_plans) >= MAX_CACHED_PLANS:
                _plans.clear()
            _plans[definition_pk] = plan
    return plan


def plan_for_instance(instance) -> WorkflowPlan:
    return plan_for(definition_pk=instance.definition_version_id)
