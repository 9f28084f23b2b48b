"""The instance archive on S3: one gzip JSON Lines object per instance, written once, verified.

Key layout, so that an operator can browse by tenant, definition and the day it ended:
`<prefix>/<tenant>/<definition_id>/<YYYY>/<MM>/<DD>/<instance_id>.jsonl.gz`.
Each line is `{"record": <kind>, "data": {...}}`: first the instance, then its journal (in
sequence order), its activity executions and its incidents. Secrets are masked, as the API shows
them: an archive is for reading, not for bringing an instance back to life.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from runtime.engine.masking import mask_secrets
from workflows.errors import NotFound, Unavailable
from workflows.models import (
    ActivityExecution,
    Incident,
    InstanceArchive,
    JournalEntry,
    Tenant,
    WorkflowInstance,
)
from workflows.sealed_fields import SealedJSONField

logger = structlog.get_logger("weft.archive")

ARCHIVE_FORMAT = 1
# Engine internals and the HTTP answer are not part of what an operator reads back.
_INSTANCE_FIELDS_LEFT_OUT = ("state", "http_response")
_READ_CHUNK = 1024 * 1024


class ArchiveFailed(Unavailable):
    """The archive could not be written or did not read back as written: nothing is deleted."""

    code = "archive_failed"


@dataclasses.dataclass(frozen=True)
class ArchiveStore:
    bucket: str
    prefix: str
    client: Any = dataclasses.field(repr=False)


def archive_store_from_settings() -> ArchiveStore | None:
    """The configured store, or None when WEFT_ARCHIVE_BUCKET is not set."""
    if not settings.WEFT_ARCHIVE_BUCKET:
        return None
    return archive_store(bucket=settings.WEFT_ARCHIVE_BUCKET, prefix=settings.WEFT_ARCHIVE_PREFIX,
                         endpoint_url=settings.WEFT_ARCHIVE_ENDPOINT_URL,
                         region=settings.WEFT_ARCHIVE_REGION)


def archive_bucket_ensure(*, store: ArchiveStore) -> bool:
    """Create the bucket when it is missing (the local server of `make run`); True if created."""
    try:
        store.client.head_bucket(Bucket=store.bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    store.client.create_bucket(Bucket=store.bucket)
    return True


def archive_store(*, bucket: str, prefix: str, endpoint_url: str | None, region: str,
                  access_key_id: str | None = None,
                  secret_access_key: str | None = None) -> ArchiveStore:
    """A store; credentials from boto3's usual chain unless given."""
    client = boto3.client(
        "s3", region_name=region, endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
        # Path-style works with AWS and with every S3-compatible server (moto, MinIO).
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
    )
    return ArchiveStore(bucket=bucket, prefix=prefix.strip("/"), client=client)


def archive_key(*, prefix: str, tenant_slug: str, instance: WorkflowInstance) -> str:
    day: datetime = instance.finished_at or instance.updated_at or instance.created_at
    day = day.astimezone(UTC) if timezone.is_aware(day) else day
    parts = [prefix] if prefix else []
    parts += [tenant_slug, instance.definition_id, f"{day:%Y}", f"{day:%m}", f"{day:%d}",
              f"{instance.id}.jsonl.gz"]
    return "/".join(parts)


def _row(obj: models.Model, *, leave_out: tuple[str, ...] = ()) -> dict:
    data = {}
    for field in obj._meta.concrete_fields:
        if field.name in leave_out:
            continue
        value = field.value_from_object(obj)
        if isinstance(field, SealedJSONField):  # read back in clear: mask like the API does
            value = mask_secrets(value)
        data[field.attname] = value
    return data


def archive_document(*, instance: WorkflowInstance) -> bytes:
    """The gzip JSON Lines of one instance (deterministic: the same rows give the same bytes)."""
    lines = [{"record": "instance", "format": ARCHIVE_FORMAT,
              "data": _row(instance, leave_out=_INSTANCE_FIELDS_LEFT_OUT)}]
    records = (
        ("journal", JournalEntry.objects.filter(instance=instance).order_by("sequence")),
        ("activity_execution",
         ActivityExecution.objects.filter(instance=instance).order_by("id")),
        ("incident", Incident.objects.filter(instance=instance).order_by("created_at", "id")),
    )
    for kind, queryset in records:
        lines.extend({"record": kind, "data": _row(row)} for row in queryset.iterator(2000))
    text = "".join(json.dumps(line, cls=DjangoJSONEncoder, sort_keys=True,
                              separators=(",", ":")) + "\n" for line in lines)
    return gzip.compress(text.encode(), mtime=0)


def _stored_digest(store: ArchiveStore, key: str) -> tuple[int, str] | None:
    """(size, sha256) of the object at `key` as S3 returns it, or None when there is none."""
    try:
        response = store.client.get_object(Bucket=store.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    digest, size = hashlib.sha256(), 0
    for chunk in response["Body"].iter_chunks(_READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _put_once(store: ArchiveStore, key: str, body: bytes) -> None:
    try:
        store.client.put_object(Bucket=store.bucket, Key=key, Body=body, IfNoneMatch="*",
                                ContentType="application/x-ndjson", ContentEncoding="gzip")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
        # Written meanwhile: whatever is there is checked like our own write.


def instance_archive_write(*, store: ArchiveStore, instance: WorkflowInstance,
                           tenant_slug: str) -> InstanceArchive:
    """Write the instance's archive once and read it back; returns the (unsaved) record.

    An object already at the key with the same bytes is a previous attempt that stopped before
    the delete: it is used as is. One with other bytes is never overwritten: this archive goes
    next to it, its name suffixed with the checksum.
    """
    body = archive_document(instance=instance)
    expected = (len(body), hashlib.sha256(body).hexdigest())
    key = archive_key(prefix=store.prefix, tenant_slug=tenant_slug, instance=instance)
    try:
        found = _stored_digest(store, key)
        if found is not None and found != expected:
            key = key.removesuffix(".jsonl.gz") + f"-{expected[1][:12]}.jsonl.gz"
            found = _stored_digest(store, key)
        if found is None:
            _put_once(store, key, body)
            found = _stored_digest(store, key)
    except ClientError as exc:
        raise ArchiveFailed(f"Archive of instance {instance.id} failed: {exc}",
                            details={"bucket": store.bucket, "key": key}) from exc
    if found != expected:
        raise ArchiveFailed(f"Archive of instance {instance.id} did not read back as written.",
                            details={"bucket": store.bucket, "key": key,
                                     "expected": expected, "found": found})
    return InstanceArchive(
        instance_id=instance.id, tenant_id=instance.tenant_id,
        definition_id=instance.definition_id, version=instance.version, status=instance.status,
        created_at=instance.created_at, finished_at=instance.finished_at, bucket=store.bucket,
        key=key, size=expected[0], sha256=expected[1], archived_at=timezone.now(),
    )


def archive_records_read(*, store: ArchiveStore | None, tenant: Tenant | None,
                         instance_id) -> dict:
    """One archived instance brought back for reading: its record and the archive's content,
    `{"archive": InstanceArchive, "instance": {...}, "journal": [...],
    "activity_executions": [...], "incidents": [...]}`. `tenant` None: any tenant's (the
    operator's command)."""
    records = InstanceArchive.objects.filter(instance_id=instance_id)
    record = (records if tenant is None else records.filter(tenant=tenant)).first()
    if record is None:
        raise NotFound(f"Instance {instance_id} has no archive.")
    if store is None:
        raise ArchiveFailed("The archive store is not configured (WEFT_ARCHIVE_BUCKET).")
    try:
        response = store.client.get_object(Bucket=record.bucket, Key=record.key)
        body = response["Body"].read()
    except ClientError as exc:
        raise ArchiveFailed(f"The archive of instance {instance_id} cannot be read: {exc}",
                            details={"bucket": record.bucket, "key": record.key}) from exc
    if hashlib.sha256(body).hexdigest() != record.sha256:
        raise ArchiveFailed(f"The archive of instance {instance_id} does not match its checksum.",
                            details={"bucket": record.bucket, "key": record.key})
    content: dict[str, Any] = {"archive": record, "instance": None, "journal": [],
                               "activity_executions": [], "incidents": []}
    lists = {"journal": "journal", "activity_execution": "activity_executions",
             "incident": "incidents"}
    for line in gzip.decompress(body).decode().splitlines():
        item = json.loads(line)
        if item["record"] == "instance":
            content["instance"] = item["data"]
        else:
            content[lists[item["record"]]].append(item["data"])
    return content
