"""Stored payloads no instance refers to any more are deleted (called by retention's tick).

How a content-addressed object is kept safe from a writer that is adding a reference to it at
the same moment is in `workflows.payloads`: the sweep marks its candidates `stored = false`
first (committed), then deletes the objects and rows still unlinked, old and unstored, under
their row locks. A retained event (no instance) keeps the objects its payload names.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from workflows import payloads
from workflows.models import PayloadLink, PayloadObject, RetainedEvent

logger = structlog.get_logger("weft.payloads")

S3_DELETE_BATCH = 1000


def _named_by_retained_events() -> set[tuple[int, str]]:
    """(tenant, sha256) of the objects that retained events' payloads refer to."""
    named: set[tuple[int, str]] = set()
    rows = (RetainedEvent.objects.annotate(raw=Cast("payload", TextField()))
            .filter(raw__contains=payloads.MARK).values_list("raw", flat=True))
    for raw in rows.iterator(500):
        for ref in payloads.references_in_text(raw):
            named.add((int(ref["tenant"]), str(ref["sha256"])))
    return named


def _unreferenced(cutoff: datetime):
    linked = Exists(PayloadLink.objects.filter(object=OuterRef("pk")))
    return PayloadObject.objects.filter(last_used_at__lt=cutoff).filter(~linked)


def payload_links_release(*, instance_ids: list) -> None:
    """The instances are about to be deleted: the objects they link are looked at again by
    the sweep (after the grace period). Call in the deleting transaction."""
    if instance_ids:
        objects = PayloadLink.objects.filter(instance_id__in=instance_ids).values("object_id")
        PayloadObject.objects.filter(pk__in=objects).update(check_after=timezone.now())


def payloads_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Look at up to `limit` stored payloads due for a check (new ones, and those whose
    instances went, after `WEFT_PAYLOAD_SWEEP_GRACE_SECONDS`): those something still refers
    to are left alone until their links go, the others are deleted. Returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEFT_PAYLOAD_SWEEP_GRACE_SECONDS)
    due = list(PayloadObject.objects.filter(check_after__lt=cutoff).order_by("check_after")
               .values_list("pk", flat=True)[:limit])
    if not due:
        return 0
    orphans = set(_unreferenced(cutoff).filter(pk__in=due).values_list("pk", "tenant_id",
                                                                       "sha256"))
    if orphans:
        kept = _named_by_retained_events()
        orphans = {pk for pk, tenant_id, sha256 in orphans if (tenant_id, sha256) not in kept}
    # Referred to (or used lately): checked again when its links go. A mark set since (an
    # instance deleted meanwhile) is later than the cutoff and stays.
    PayloadObject.objects.filter(pk__in=[pk for pk in due if pk not in orphans],
                                 check_after__lt=cutoff).update(check_after=None)
    if not orphans:
        return 0
    with transaction.atomic():
        marked = list(_unreferenced(cutoff).filter(pk__in=orphans)
                      .select_for_update(skip_locked=True, of=("self",))
                      .values_list("pk", flat=True))
        PayloadObject.objects.filter(pk__in=marked).update(stored=False)
    if not marked:
        return 0
    with transaction.atomic():
        rows = list(_unreferenced(cutoff).filter(pk__in=marked, stored=False)
                    .select_for_update(skip_locked=True, of=("self",))
                    .values_list("pk", "store", "key"))
        keys = [key for _, store, key in rows if store == payloads.STORE_S3 and key]
        _delete_objects(keys)
        deleted = _unreferenced(cutoff).filter(pk__in=[pk for pk, _, _ in rows], stored=False) \
            .only("pk").delete()[1].get(PayloadObject._meta.label, 0)
    if deleted:
        logger.info("payloads_swept", deleted=deleted, s3_objects=len(keys))
    return deleted


def _delete_objects(keys: list[str]) -> None:
    """Delete the S3 objects (inside the sweep's transaction: a failure keeps the rows, which
    stay `stored = false`, so a writer stores them again)."""
    if not keys:
        return
    client = payloads.s3_client()
    for start in range(0, len(keys), S3_DELETE_BATCH):
        chunk = keys[start:start + S3_DELETE_BATCH]
        try:
            answer = client.delete_objects(
                Bucket=settings.WEFT_ARCHIVE_BUCKET,
                Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise payloads.PayloadUnavailable(f"Stored payloads could not be deleted: {exc}") \
                from exc
        if answer.get("Errors"):
            raise payloads.PayloadUnavailable("Stored payloads could not be deleted.",
                                              details={"errors": answer["Errors"][:5]})
