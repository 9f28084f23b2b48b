"""Large payloads: values above `WEFT_PAYLOAD_INLINE_BYTES` are kept out of the rows.

When a JSON column of the offloading kind (`workflows.payload_fields`) is written, its value is
serialised once; under the threshold that text is what the database gets (one length check).
Above it, every sub-value that is itself at least the threshold is replaced, innermost first, by
a reference `{"$weft.payload": {"tenant": <id>, "sha256": <hex>, "size": <bytes>}}`, and its
compact JSON is stored once per tenant and content (SHA-256 of the JSON): gzip in S3 (the
archive's bucket, `<WEFT_ARCHIVE_PREFIX>/payloads/<tenant id>/<sha[:2]>/<sha>.json.gz`), or, when
no bucket is configured (or `WEFT_PAYLOAD_STORE=db`), gzip in the `PayloadObject` row itself.
PostgreSQL only; on SQLite values stay inline. The top-level object of a
column stays an object (its small keys remain queryable: `payload__bookmark_key`,
`data__kind`); a large top-level string or list becomes a reference.

Reading a column puts the values back (`from_db_value`), so services, the engine's
expressions, the API, the admin and the archive see the values as before. What was read or
written recently is kept, decompressed, in a per-process cache (`WEFT_PAYLOAD_CACHE_BYTES`), so
the steps of one instance on one worker download a value once; and once a value's link to an
instance has committed, writing it again for that instance costs no statement (`linked`).

References are counted by instance: `PayloadLink(object, instance)` rows are written with the
reference, in the writer's transaction, and go with the instance (retention, deletes). Objects
that no instance links (and no retained event names) for `WEFT_PAYLOAD_SWEEP_GRACE_SECONDS` are
deleted by retention's housekeeping (`workflows.services.payloads`). The protocol that keeps a
content-addressed object from being deleted while someone writes a new reference to it:

- a writer upserts the object's row (`last_used_at` = now) and inserts its link in one
  statement, inside its transaction; when the row says the content is not `stored`, the writer
  stores it (S3 PUT, or the row's `data`) and sets `stored`, still holding the row's lock;
- the sweep first marks candidate rows `stored = false` (committed), then, in a second
  transaction, locks the rows still unlinked, old and not stored, deletes their objects and
  then the rows. A writer that comes in between sees `stored = false` and stores again; one
  that waits on the sweep's lock inserts a fresh row after it and stores again.

No Django models here (the models import this module's fields): the two tables are reached by
plain SQL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workflows.errors import Unavailable
from workflows.sealed_fields import SEALED, unseal

logger = structlog.get_logger("weft.payloads")

MARK = "$weft.payload"
STORE_S3 = "s3"
STORE_DB = "db"
_GZIP_LEVEL = 6


class PayloadUnavailable(Unavailable):
    """A stored payload could not be written or read back (S3 down, object missing, checksum)."""

    code = "payload_unavailable"


def _dumps(value: Any) -> str:
    # ASCII, as Django's own JSON adapter writes it: the length is the size in bytes, and a
    # value the database refuses (a lone surrogate) fails the same way as before.
    return json.dumps(value, separators=(",", ":"))


def is_reference(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and MARK in value


# ---- the store ---------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _s3_client(endpoint_url: str | None, region: str):
    return boto3.client(
        "s3", region_name=region, endpoint_url=endpoint_url,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}))


def s3_client():
    return _s3_client(settings.WEFT_ARCHIVE_ENDPOINT_URL, settings.WEFT_ARCHIVE_REGION)


def object_key(tenant_id: int, sha256: str) -> str:
    prefix = settings.WEFT_ARCHIVE_PREFIX.strip("/")
    parts = [prefix] if prefix else []
    return "/".join([*parts, "payloads", str(tenant_id), sha256[:2], f"{sha256}.json.gz"])


# ---- the cache ---------------------------------------------------------------------------------


class _TextCache:
    """Decompressed JSON texts by (tenant, sha256), least recently used out first, bounded by
    the sum of their lengths. Texts, not parsed values: every reader gets its own copy."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> str | None:
        with self._lock:
            text = self._items.get(key)
            if text is not None:
                self._items.move_to_end(key)
            return text

    def put(self, key: tuple[int, str], text: str) -> None:
        limit = settings.WEFT_PAYLOAD_CACHE_BYTES
        if len(text) > limit // 2:
            return
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return
            self._items[key] = text
            self._size += len(text)
            while self._size > limit and self._items:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


cache = _TextCache()


# ---- owners: which row a value is written for -------------------------------------------------

_owners = threading.local()


def note_owner(value: Any, row) -> None:
    """Called by the fields' `pre_save`: the value about to be written belongs to `row`."""
    pending = getattr(_owners, "pending", None)
    if pending is None or len(pending) > 256:  # leftovers of writes that never happened
        pending = _owners.pending = {}
    pending.setdefault(id(value), []).append((value, row))


def take_owner(value: Any):
    pending = getattr(_owners, "pending", None)
    if not pending:
        return None
    queue = pending.get(id(value))
    if not queue:
        return None
    stored, row = queue.pop(0)
    if not queue:
        del pending[id(value)]
    return row if stored is value else None


def _owner_ids(row) -> tuple[int | None, Any]:
    """(tenant id, instance id) of a row that holds workflow data."""
    model = type(row)
    if model._meta.model_name == "workflowinstance":
        return row.tenant_id, row.pk
    instance_id = getattr(row, "instance_id", None)
    tenant_id = getattr(row, "tenant_id", None)
    if tenant_id is None and instance_id is not None:
        tenant_id = row.instance.tenant_id  # journal, executions: from their (cached) instance
    return tenant_id, instance_id


# ---- writing -----------------------------------------------------------------------------------


class _Blob:
    __slots__ = ("sha256", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()


def _split(value: Any, text: str, depth: int, threshold: int, tenant_id: int,
           blobs: dict[str, _Blob]) -> Any:
    """`value` (its JSON is `text`, at least the threshold) with its large parts replaced by
    references, innermost first; a container still large after that becomes one reference,
    except at the top."""
    kind = type(value)
    if (kind is dict and not is_reference(value) and not (len(value) == 1 and SEALED in value)) \
            or kind is list:
        items = value.items() if kind is dict else enumerate(value)
        out: Any = {} if kind is dict else [None] * len(value)
        changed = False
        for key, item in items:
            if type(item) in (dict, list, str):
                item_text = _dumps(item)
                if len(item_text) >= threshold:
                    item = _split(item, item_text, depth + 1, threshold, tenant_id, blobs)
                    changed = True
            out[key] = item
        if changed:
            value, text = out, _dumps(out)
        if depth == 0 or len(text) < threshold:
            return value
    return _reference(text, tenant_id, blobs)


def _reference(text: str, tenant_id: int, blobs: dict[str, _Blob]) -> dict:
    blob = _Blob(text)
    blobs[blob.sha256] = blob
    return {MARK: {"tenant": tenant_id, "sha256": blob.sha256, "size": len(text)}}


def offload(value: Any, row, connection) -> tuple[Any, str] | None:
    """What to store for `value` written for `row`: (the value with its large parts replaced
    by references, and those parts stored; its JSON text). None when `value` is not a JSON
    container or string (the field then adapts it as usual)."""
    if type(value) not in (dict, list, str):
        return None
    text = _dumps(value)
    threshold = settings.WEFT_PAYLOAD_INLINE_BYTES
    if not threshold or len(text) < threshold:
        return value, text
    tenant_id, instance_id = _owner_ids(row)
    if tenant_id is None:
        return value, text
    blobs: dict[str, _Blob] = {}
    reduced = _split(value, text, 0, threshold, tenant_id, blobs)
    _persist(list(blobs.values()), tenant_id=tenant_id, instance_id=instance_id,
             connection=connection)
    return reduced, _dumps(reduced)


# The objects' rows (last use refreshed), and their links to the instance when there is one.
_UPSERT_SQL = """
WITH objects AS (
    INSERT INTO workflows_payloadobject (tenant_id, sha256, size, store, key, stored,
                                         created_at, last_used_at, check_after)
    SELECT %(tenant)s, sha256, size, %(store)s, key, false, %(now)s, %(now)s, %(now)s
      FROM unnest(%(sha256)s::text[], %(size)s::bigint[], %(key)s::text[]) AS t(sha256, size, key)
    ON CONFLICT (tenant_id, sha256) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
    RETURNING id, sha256, store, key, stored
), links AS (
    INSERT INTO workflows_payloadlink (object_id, instance_id)
    SELECT id, %(instance)s::uuid FROM objects WHERE %(instance)s::uuid IS NOT NULL
    ON CONFLICT (object_id, instance_id) DO NOTHING
)
SELECT id, sha256, store, key, stored FROM objects
"""
_STORED_SQL = ("UPDATE workflows_payloadobject SET stored = true, stored_size = %s, "
               "data = COALESCE(%s, data) WHERE id = %s")
_WHERE_SQL = """
SELECT tenant_id, sha256, store, key, data FROM workflows_payloadobject
 WHERE (tenant_id, sha256) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))
"""


class _Linked:
    """(instance, sha256) pairs whose link committed, in this process: the object cannot be
    swept while the link exists, so writing the same value for the same instance again (every
    step of a workflow that holds it) needs no statement at all."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, keys: list[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._keys[key] = None
            while len(self._keys) > self.LIMIT:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


linked = _Linked()


def _persist(blobs: list[_Blob], *, tenant_id: int, instance_id, connection) -> None:
    """Upsert the objects' rows with their link to the instance (one statement), then store
    the content of those not stored yet, all in the caller's transaction."""
    if instance_id is not None:
        blobs = [blob for blob in blobs if (str(instance_id), blob.sha256) not in linked]
    if not blobs:
        return
    now = timezone.now()
    store = settings.WEFT_PAYLOAD_STORE or (STORE_S3 if settings.WEFT_ARCHIVE_BUCKET
                                            else STORE_DB)
    if store == STORE_S3 and not settings.WEFT_ARCHIVE_BUCKET:
        raise PayloadUnavailable("WEFT_PAYLOAD_STORE is s3 but WEFT_ARCHIVE_BUCKET is not set.")
    params = {
        "tenant": tenant_id, "store": store, "now": now,
        "instance": str(instance_id) if instance_id is not None else None,
        "sha256": [blob.sha256 for blob in blobs], "size": [len(blob.text) for blob in blobs],
        "key": [object_key(tenant_id, blob.sha256) if store == STORE_S3 else ""
                for blob in blobs],
    }
    by_sha = {blob.sha256: blob for blob in blobs}
    with transaction.atomic(using=connection.alias, savepoint=False), \
            connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, params)
        rows = cursor.fetchall()
        for object_id, sha256, row_store, key, stored in rows:
            blob = by_sha[sha256]
            if not stored:
                _store(cursor, object_id, row_store, key, blob)
            cache.put((tenant_id, sha256), blob.text)
    if instance_id is not None:
        keys = [(str(instance_id), blob.sha256) for blob in blobs]
        transaction.on_commit(lambda: linked.add(keys), using=connection.alias)


def _store(cursor, object_id: int, store: str, key: str, blob: _Blob) -> None:
    body = gzip.compress(blob.text.encode(), compresslevel=_GZIP_LEVEL, mtime=0)
    if store == STORE_S3:
        if not settings.WEFT_ARCHIVE_BUCKET:
            raise PayloadUnavailable("A payload stored in S3 needs WEFT_ARCHIVE_BUCKET.")
        try:
            s3_client().put_object(Bucket=settings.WEFT_ARCHIVE_BUCKET, Key=key, Body=body,
                                   ContentType="application/json", ContentEncoding="gzip")
        except (ClientError, BotoCoreError) as exc:
            raise PayloadUnavailable(f"A payload could not be stored: {exc}",
                                     details={"key": key}) from exc
        cursor.execute(_STORED_SQL, [len(body), None, object_id])
    else:
        cursor.execute(_STORED_SQL, [len(body), body, object_id])
    logger.info("payload_stored", store=store, sha256=blob.sha256, size=len(blob.text),
                stored_size=len(body))


# ---- reading -----------------------------------------------------------------------------------


def _references(value: Any, found: list, depth: int = 0) -> None:
    kind = type(value)
    if kind is dict:
        if is_reference(value):
            found.append(value[MARK])
            return
        for item in value.values():
            if type(item) in (dict, list):
                _references(item, found, depth + 1)
    elif kind is list and depth < 210:
        for item in value:
            if type(item) in (dict, list):
                _references(item, found, depth + 1)


def _fetch(refs: list[dict], connection) -> dict[tuple[int, str], str]:
    """The texts of these references: from the cache, else one query for where they are and
    one read each."""
    texts: dict[tuple[int, str], str] = {}
    missing = []
    for ref in refs:
        key = (int(ref["tenant"]), str(ref["sha256"]))
        if key in texts:
            continue
        text = cache.get(key)
        if text is None:
            missing.append(key)
        else:
            texts[key] = text
    if not missing:
        return texts
    with connection.cursor() as cursor:
        cursor.execute(_WHERE_SQL, [[key[0] for key in missing], [key[1] for key in missing]])
        rows = {(tenant_id, sha256): (store, key, data)
                for tenant_id, sha256, store, key, data in cursor.fetchall()}
    for key in missing:
        if key not in rows:
            raise PayloadUnavailable(f"Payload {key[1]} of tenant {key[0]} is not stored.",
                                     details={"sha256": key[1]})
        store, object_key_, data = rows[key]
        body = bytes(data) if store == STORE_DB and data is not None else _download(object_key_)
        text = gzip.decompress(body).decode()
        if hashlib.sha256(text.encode()).hexdigest() != key[1]:
            raise PayloadUnavailable(f"Payload {key[1]} does not match its checksum.",
                                     details={"sha256": key[1]})
        cache.put(key, text)
        texts[key] = text
    return texts


def _download(key: str) -> bytes:
    try:
        response = s3_client().get_object(Bucket=settings.WEFT_ARCHIVE_BUCKET, Key=key)
        return response["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise PayloadUnavailable(f"A payload could not be read: {exc}",
                                 details={"key": key}) from exc


def references_in_text(text: str) -> list[dict]:
    """The references in a stored JSON text (as the database holds it)."""
    if MARK not in text:
        return []
    found: list[dict] = []
    value = json.loads(text)
    if is_reference(value):
        return [value[MARK]]
    _references(value, found)
    return found


def resolve(value: Any, connection=None) -> Any:
    """`value` with every reference replaced by what it stands for (sealed secrets in it
    unsealed, as the row's own are), read through `connection` (default: the default
    database's)."""
    connection = connection or transaction.get_connection()
    if is_reference(value):
        found = [value[MARK]]
    else:
        found = []
        _references(value, found)
    if not found:
        return value
    texts = _fetch(found, connection)
    return _replace(value, texts, connection)


def _load(ref: dict, texts: dict, connection) -> Any:
    text = texts[(int(ref["tenant"]), str(ref["sha256"]))]
    value = json.loads(text)
    if SEALED in text:
        value = unseal(value)
    if MARK in text:
        value = resolve(value, connection)
    return value


def _replace(value: Any, texts: dict, connection, depth: int = 0) -> Any:
    kind = type(value)
    if kind is dict:
        if is_reference(value):
            return _load(value[MARK], texts, connection)
        return {key: _replace(item, texts, connection, depth + 1)
                if type(item) in (dict, list) else item for key, item in value.items()}
    if kind is list and depth < 210:
        return [_replace(item, texts, connection, depth + 1)
                if type(item) in (dict, list) else item for item in value]
    return value
