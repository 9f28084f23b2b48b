"""Housekeeping: terminal instances past their retention are archived (S3) and deleted, the
instances of deleted definitions too; done steps, time-trigger fires and expired retained events
have their own retention. Everything in small batches, each batch its own short transaction, and
a bounded amount of work per beat tick, so that housekeeping never holds a lock that a running
step waits for for long.

Policy: `WEFT_RETENTION_FINISHED_DAYS` / `_FAULTED_DAYS`, then the tenant's own values, then the
definition version's `options.retention` (the version the instance is pinned to).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from workflows.models import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceArchive,
    InstanceStatus,
    JournalEntry,
    PayloadLink,
    RetainedEvent,
    Step,
    StepStatus,
    Tenant,
    TriggerFire,
    WorkflowDefinition,
    WorkflowInstance,
)
from workflows.services.archive import ArchiveFailed, ArchiveStore, instance_archive_write
from workflows.services.payloads import payload_links_release, payloads_sweep

logger = structlog.get_logger("weft.retention")

TERMINAL = (InstanceStatus.FINISHED, InstanceStatus.CANCELLED, InstanceStatus.FAULTED)
# Rows of the other kinds (steps, fires, events) per batch and per tick, per instance allowed.
OTHER_ROWS_FACTOR = 20


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    finished_days: int
    faulted_days: int

    def expired(self, now: datetime) -> Q:
        return (self._ended_before(now - timedelta(days=self.finished_days),
                                   InstanceStatus.FINISHED, InstanceStatus.CANCELLED)
                | self._ended_before(now - timedelta(days=self.faulted_days),
                                     InstanceStatus.FAULTED))

    @staticmethod
    def _ended_before(cutoff: datetime, *statuses: str) -> Q:
        # Rows that ended without an end time (faulted by a poison step before it set one)
        # count from their last change.
        return Q(status__in=statuses) & (
            Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, updated_at__lt=cutoff))


@dataclasses.dataclass
class RetentionReport:
    archived: int = 0
    deleted: int = 0
    failed: int = 0
    definitions_deleted: int = 0
    steps_deleted: int = 0
    fires_deleted: int = 0
    events_deleted: int = 0
    payloads_deleted: int = 0


def tenant_retention(tenant: Tenant) -> RetentionPolicy:
    return RetentionPolicy(
        finished_days=tenant.retention_finished_days or settings.WEFT_RETENTION_FINISHED_DAYS,
        faulted_days=tenant.retention_faulted_days or settings.WEFT_RETENTION_FAULTED_DAYS,
    )


def _expired_instances(now: datetime) -> Q:
    """Which terminal instances are past their retention, as one filter: one term per distinct
    policy (tenants and overriding definition versions grouped by their days), so the scan
    stays a few index range scans however many tenants there are."""
    by_policy: dict[RetentionPolicy, list] = defaultdict(list)
    tenant_policies = {t.pk: tenant_retention(t) for t in Tenant.objects.all()}
    for tenant_id, policy in tenant_policies.items():
        by_policy[policy].append(("tenant", tenant_id))
    overriding = WorkflowDefinition.objects.filter(
        body__options__has_key="retention", deleting_at__isnull=True,
    ).values_list("pk", "tenant_id", "body__options__retention")
    override_pks = []
    for pk, tenant_id, override in overriding:
        base = tenant_policies[tenant_id]
        override = override if isinstance(override, dict) else {}
        policy = RetentionPolicy(
            finished_days=override.get("finished_days") or base.finished_days,
            faulted_days=override.get("faulted_days") or base.faulted_days)
        by_policy[policy].append(("version", pk))
        override_pks.append(pk)
    expired = Q(pk__in=[])
    for policy, members in by_policy.items():
        tenants = [key for kind, key in members if kind == "tenant"]
        versions = [key for kind, key in members if kind == "version"]
        if tenants:
            expired |= (Q(tenant_id__in=tenants) & ~Q(definition_version_id__in=override_pks)
                        & policy.expired(now))
        if versions:
            expired |= Q(definition_version_id__in=versions) & policy.expired(now)
    return expired


def _of_deleted_definitions() -> Q:
    return Q(definition_version__deleting_at__isnull=False, status__in=TERMINAL)


def instances_delete_batch(*, candidates: Q, store: ArchiveStore | None, batch_size: int,
                           skip: set, report: RetentionReport) -> int:
    """Archive, then delete, up to `batch_size` instances matching `candidates`; returns how
    many were looked at (0: none left). Archiving happens outside any transaction; the delete
    is one short transaction that locks only rows nobody else holds (SKIP LOCKED) and deletes an
    instance only if it did not change since it was archived."""
    instances = list(WorkflowInstance.objects.filter(candidates).exclude(pk__in=skip)
                     .select_related("tenant").order_by("finished_at")[:batch_size])
    if not instances:
        return 0
    snapshots: dict = {}
    for instance in instances:
        skip.add(instance.pk)
        try:
            record = (instance_archive_write(store=store, instance=instance,
                                             tenant_slug=instance.tenant.slug)
                      if store is not None else None)
        except ArchiveFailed as exc:
            report.failed += 1
            logger.warning("instance_archive_failed", instance_id=str(instance.pk),
                           definition_id=instance.definition_id, error=exc.message)
            continue
        snapshots[instance.pk] = (instance.updated_at, record)
    if snapshots:
        _delete_archived(candidates, snapshots, report)
    return len(instances)


@transaction.atomic
def _delete_archived(candidates: Q, snapshots: dict, report: RetentionReport) -> None:
    locked = dict(WorkflowInstance.objects.filter(candidates, pk__in=list(snapshots))
                  .select_for_update(skip_locked=True, of=("self",))
                  .values_list("pk", "updated_at"))
    ids = [pk for pk, updated_at in locked.items() if snapshots[pk][0] == updated_at]
    if not ids:
        return
    records = [snapshots[pk][1] for pk in ids if snapshots[pk][1] is not None]
    InstanceArchive.objects.bulk_create(records, update_conflicts=True,
                                        unique_fields=["instance_id"],
                                        update_fields=["key", "size", "sha256", "archived_at"])
    # The big children first, each one DELETE by instance (their foreign-key index).
    # Their payload links too: stored payloads nothing links go with `payloads_sweep`.
    payload_links_release(instance_ids=ids)
    for model in (JournalEntry, ActivityExecution, Incident, Bookmark, PayloadLink):
        model.objects.filter(instance_id__in=ids).delete()
    TriggerFire.objects.filter(instance_id__in=ids).delete()
    Step.objects.filter(instance_id__in=ids).delete()
    WorkflowInstance.objects.filter(pk__in=ids).delete()
    report.archived += len(records)
    report.deleted += len(ids)
    for pk in ids:
        logger.info("instance_retired", instance_id=str(pk), archived=snapshots[pk][1] is not None)


def _deleted_definitions_finish(*, limit: int, report: RetentionReport) -> None:
    """Versions of deleted definitions whose instances are all gone are deleted for good."""
    has_instances = Exists(WorkflowInstance.objects.filter(definition_version=OuterRef("pk")))
    versions = list(WorkflowDefinition.objects.filter(deleting_at__isnull=False)
                    .filter(~has_instances).values_list("pk", flat=True)[:limit])
    if versions:
        with transaction.atomic():
            report.definitions_deleted += WorkflowDefinition.objects.filter(
                pk__in=versions, deleting_at__isnull=False).delete()[1].get(
                    WorkflowDefinition._meta.label, 0)


def _rows_delete(queryset, *, batch_size: int, limit: int) -> int:
    """Delete rows of `queryset` by primary key, `batch_size` per short transaction, skipping
    rows another transaction holds, at most `limit` in all."""
    deleted = 0
    while deleted < limit:
        with transaction.atomic():
            pks = list(queryset.select_for_update(skip_locked=True)
                       .values_list("pk", flat=True)[:min(batch_size, limit - deleted)])
            if not pks:
                break
            queryset.model.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
    return deleted


def retention_apply(*, store: ArchiveStore | None, now: datetime | None = None,
                    batch_size: int | None = None, limit: int | None = None) -> RetentionReport:
    """One housekeeping tick (the beat task `weft.apply_retention`)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.WEFT_RETENTION_BATCH_SIZE
    limit = limit or settings.WEFT_RETENTION_MAX_PER_TICK
    report, skip, looked_at = RetentionReport(), set(), 0
    for candidates in (_of_deleted_definitions(), _expired_instances(now)):
        while looked_at < limit:
            seen = instances_delete_batch(candidates=candidates, store=store, skip=skip,
                                          batch_size=min(batch_size, limit - looked_at),
                                          report=report)
            if not seen:
                break
            looked_at += seen
    _deleted_definitions_finish(limit=batch_size, report=report)
    rows_batch, rows_limit = batch_size * OTHER_ROWS_FACTOR, limit * OTHER_ROWS_FACTOR
    steps_before = now - timedelta(days=settings.WEFT_RETENTION_STEP_DAYS)
    report.steps_deleted = _rows_delete(
        Step.objects.filter(status__in=(StepStatus.DONE, StepStatus.CANCELLED),
                            finished_at__lt=steps_before),
        batch_size=rows_batch, limit=rows_limit)
    report.fires_deleted = _rows_delete(
        TriggerFire.objects.filter(
            fired_at__lt=now - timedelta(days=settings.WEFT_RETENTION_FIRE_DAYS)),
        batch_size=rows_batch, limit=rows_limit)
    report.events_deleted = _rows_delete(RetainedEvent.objects.filter(expires_at__lt=now),
                                         batch_size=rows_batch, limit=rows_limit)
    report.payloads_deleted = payloads_sweep(now=now, limit=rows_batch)
    if any(dataclasses.astuple(report)):
        logger.info("retention_applied", **dataclasses.asdict(report))
    return report
