"""Synchronous execution: `POST definitions/{id}/execute/` runs the published version here,
within a step and time budget, and hands what is left to the workers."""

import structlog
from django.db import transaction
from django.utils import timezone

from runtime import engine
from workflows.models import Tenant, WorkflowInstance
from workflows.selectors.definitions import definition_get_published
from workflows.services.driver import InstanceDriver
from workflows.services.instances import instance_create


@transaction.atomic
def instance_execute(*, tenant: Tenant, definition_id: str, input=None,
                     correlation_id: str | None = None) -> WorkflowInstance:
    """Start the published version and run it until finished, suspended, faulted, or out of
    budget (then the workers continue it)."""
    published = definition_get_published(tenant=tenant, definition_id=definition_id)
    instance, plan = instance_create(tenant=tenant, published=published, raw_input=input,
                                     correlation_id=correlation_id)
    structlog.contextvars.bind_contextvars(instance_id=str(instance.id),
                                           definition_id=definition_id)
    driver = InstanceDriver(instance, plan, inline=True)
    driver.drive(engine.run(plan, instance.state, now=timezone.now(),
                            max_steps=min(driver.budget.max_steps, 1000)))
    return driver.finish()
