"""Triggers: indexed when a definition is published, removed when it is retracted or deleted.

Cron, Timer and StartAt triggers become django-celery-beat periodic tasks (visible and editable
in the admin under the definition's name) that call `weft.fire_trigger`. Each fire is keyed by
(trigger, scheduled time) under a unique constraint, so even two beat leaders, or a message
delivered twice, start one instance per slot.
"""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from workflows.errors import Conflict, InvalidInput
from workflows.models import (
    Tenant,
    TriggerFire,
    TriggerType,
    WorkflowDefinition,
    WorkflowTrigger,
)
from workflows.plans import plan_for
from workflows.services.instances import instance_dispatch

logger = structlog.get_logger(__name__)
FIRE_TASK = "weft.fire_trigger"
TIME_TRIGGERS = (TriggerType.CRON, TriggerType.TIMER, TriggerType.START_AT)


def _index_key(trigger_type: str, properties: dict) -> str:
    if trigger_type == TriggerType.EVENT:
        return properties.get("event", "")
    if trigger_type == TriggerType.HTTP:
        return properties.get("path", "")
    return ""


def _periodic_task(trigger: WorkflowTrigger, definition: WorkflowDefinition) -> PeriodicTask:
    props = trigger.properties
    name = (f"{definition.name} · {trigger.activity_id} "
            f"[{trigger.tenant.slug}/{trigger.definition_id}]")[:200]
    task = PeriodicTask(name=name, task=FIRE_TASK, kwargs=json.dumps({"trigger_id": trigger.pk}),
                        description=f"{trigger.type} trigger of {definition.definition_id} "
                                    f"v{definition.version}")
    if trigger.type == TriggerType.TIMER:
        every = max(1, round(float(props["interval_seconds"])))
        task.interval, _ = IntervalSchedule.objects.get_or_create(
            every=every, period=IntervalSchedule.SECONDS)
    elif trigger.type == TriggerType.CRON:
        minute, hour, day_of_month, month_of_year, day_of_week = props["cron"].split()
        task.crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
            day_of_week=day_of_week, timezone=props.get("timezone") or "UTC")
    else:
        task.clocked, _ = ClockedSchedule.objects.get_or_create(
            clocked_time=_at(props["at"]))
        task.one_off = True
    task.save()
    return task


def _at(value) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise InvalidInput(f"Not a date-time: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def triggers_index(*, definition: WorkflowDefinition) -> list[WorkflowTrigger]:
    """Replace the definition's triggers with those of this (just published) version."""
    triggers_remove(tenant=definition.tenant, definition_id=definition.definition_id)
    plan = plan_for(definition_pk=definition.pk, body=definition.body)
    created = []
    for trigger in plan.triggers:
        properties = json.loads(json.dumps(dict(trigger.properties), default=str))
        row = WorkflowTrigger.objects.create(
            tenant=definition.tenant, definition_version=definition,
            definition_id=definition.definition_id, activity_id=trigger.activity_id,
            type=trigger.type, key=_index_key(trigger.type, properties), properties=properties)
        if row.type in TIME_TRIGGERS:
            row.periodic_task = _periodic_task(row, definition)
            row.save(update_fields=["periodic_task"])
        created.append(row)
    return created


def triggers_remove(*, tenant: Tenant, definition_id: str) -> None:
    rows = WorkflowTrigger.objects.filter(tenant=tenant, definition_id=definition_id)
    PeriodicTask.objects.filter(weft_trigger__in=rows).delete()
    rows.delete()


def _slot(trigger: WorkflowTrigger, now: datetime) -> datetime:
    """The scheduled time this fire stands for."""
    props = trigger.properties
    if trigger.type == TriggerType.START_AT:
        return _at(props["at"])
    if trigger.type == TriggerType.CRON:
        # The latest cron time at or before now (plus a second of tolerance for early sends).
        zone = ZoneInfo(props.get("timezone") or "UTC")
        local = (now + timedelta(seconds=1)).astimezone(zone)
        return croniter(props["cron"], local).get_prev(datetime).astimezone(UTC)
    # Interval: slots on a grid anchored at the first fire; rounding absorbs beat's jitter, so
    # two sends within half an interval are the same slot.
    interval = timedelta(seconds=float(props["interval_seconds"]))
    last = trigger.fires.order_by("-scheduled_for").values_list("scheduled_for",
                                                                 flat=True).first()
    if last is None:
        return now.replace(microsecond=(now.microsecond // 1000) * 1000)
    steps = round((now - last) / interval)
    return last + steps * interval


def trigger_fire(*, trigger_id: int, now: datetime | None = None) -> str:
    """Start one instance for this trigger's current slot, once."""
    now = now or timezone.now()
    with transaction.atomic():
        trigger = (WorkflowTrigger.objects.select_for_update().select_related("tenant")
                   .filter(pk=trigger_id).first())
        if trigger is None:
            return "gone"  # retracted since beat sent this
        slot = _slot(trigger, now)
        try:
            with transaction.atomic():
                fire = TriggerFire.objects.create(trigger=trigger, scheduled_for=slot)
        except IntegrityError:
            logger.info("trigger_slot_already_fired", trigger_id=trigger_id, slot=slot.isoformat())
            return "duplicate"
        try:
            with transaction.atomic():
                instance = instance_dispatch(
                    tenant=trigger.tenant, definition_id=trigger.definition_id,
                    trigger={"activity_id": trigger.activity_id, "payload": slot.isoformat()})
        except (Conflict, InvalidInput) as exc:
            fire.outcome = exc.code[:32]
            fire.save(update_fields=["outcome"])
            logger.info("trigger_start_refused", trigger_id=trigger_id, reason=exc.message)
            return fire.outcome
        fire.instance = instance
        fire.save(update_fields=["instance"])
    return "started"


def triggers_for_event(*, tenant: Tenant, name: str):
    return WorkflowTrigger.objects.filter(tenant=tenant, type=TriggerType.EVENT, key=name)
