"""Definition lifecycle: create, save a draft, publish, retract, delete."""

import json
import re
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from runtime.activities import default_registry
from runtime.engine import validate_definition
from workflows.definition_cache import cached_published_invalidate_on_commit
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.models import InstanceStatus, Tenant, WorkflowDefinition, WorkflowInstance
from workflows.revisions import definition_revision
from workflows.services.secrets import secret_references_check
from workflows.services.triggers import triggers_index, triggers_remove

# Path segments under definitions/ that are actions, so they cannot be definition ids.
RESERVED_DEFINITION_IDS = frozenset({"validate"})
# A definition body larger than this (as stored JSON) is refused.
MAX_DEFINITION_BYTES = 512 * 1024
MAX_NAME_LENGTH = 200  # the column's size
MAX_DESCRIPTION_LENGTH = 10_000
_SLUG_INVALID = re.compile(r"[^a-z0-9._-]+")


def definition_id_from_name(name: str) -> str:
    slug = _SLUG_INVALID.sub("-", name.strip().lower()).strip("-._")
    return slug[:100].rstrip("-._")


def definition_problems(body: Any) -> list[dict]:
    """Every problem in a definition body as `{"path", "message"}`, an empty list when valid."""
    if not isinstance(body, dict):
        return [{"path": "", "message": "A definition must be a JSON object."}]
    problems = [{"path": p.path, "message": p.message}
                for p in validate_definition(body, default_registry())]
    name, description = body.get("name"), body.get("description")
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        problems.append({"path": "name", "message": f"At most {MAX_NAME_LENGTH} characters."})
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            {"path": "description", "message": f"At most {MAX_DESCRIPTION_LENGTH} characters."}
        )
    definition_id = body.get("definition_id")
    if isinstance(definition_id, str) and definition_id in RESERVED_DEFINITION_IDS:
        problems.append({"path": "definition_id", "message": f"'{definition_id}' is reserved."})
    return problems


def _normalised_body(body: Any, *, definition_id: str | None = None) -> dict:
    """Validate the body and return it with its `definition_id` filled in."""
    if not isinstance(body, dict):
        raise InvalidInput("A definition must be a JSON object.",
                           errors=[{"path": "", "message": "Expected an object."}],
                           code="invalid_definition")
    body = dict(body)
    if definition_id is not None:
        given = body.get("definition_id")
        if given not in (None, definition_id):
            raise InvalidInput(
                "The body's definition_id does not match the URL.",
                errors=[{"path": "definition_id",
                         "message": f"Expected '{definition_id}' or no value, got {given!r}."}],
                code="invalid_definition",
            )
        body["definition_id"] = definition_id
    elif body.get("definition_id") in (None, "") and isinstance(body.get("name"), str):
        derived = definition_id_from_name(body["name"])
        if derived:
            body["definition_id"] = derived
    problems = definition_problems(body)
    if not problems and len(_json_size(body)) > MAX_DEFINITION_BYTES:
        problems = [
            {"path": "", "message": f"The definition exceeds {MAX_DEFINITION_BYTES} bytes."}
        ]
    if problems:
        raise InvalidInput("The definition is not valid.", errors=problems,
                           code="invalid_definition")
    return body


def _json_size(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _locked_versions(tenant: Tenant, definition_id: str) -> list[WorkflowDefinition]:
    """All versions of one definition, newest first, with writers to it taking turns.

    Every writer locks the same row, the first version (which lives as long as the definition),
    so they queue in one line and cannot deadlock. The versions are read after the lock is
    held: under READ COMMITTED a new statement sees what the previous writer committed.
    """
    rows = WorkflowDefinition.objects.filter(tenant=tenant, definition_id=definition_id)
    if rows.order_by("version").select_for_update().values_list("pk", flat=True).first() is None:
        raise NotFound(f"Definition '{definition_id}' not found.")
    return list(rows.order_by("-version"))


def _fields_from(body: dict) -> dict:
    return {
        "name": body["name"],
        "description": body.get("description") or "",
        "body": body,
    }


@transaction.atomic
def definition_create(*, tenant: Tenant, user, body: Any) -> WorkflowDefinition:
    body = _normalised_body(body)
    secret_references_check(tenant=tenant, body=body)
    definition_id = body["definition_id"]
    try:
        with transaction.atomic():
            return WorkflowDefinition.objects.create(
                tenant=tenant, definition_id=definition_id, version=1, is_latest=True,
                created_by=user, **_fields_from(body),
            )
    except IntegrityError as exc:
        raise Conflict(f"Definition '{definition_id}' already exists.",
                       code="definition_exists") from exc


@transaction.atomic
def definition_save_draft(
    *, tenant: Tenant, user, definition_id: str, body: Any, expected_revision: str | None = None
) -> WorkflowDefinition:
    """Update the latest draft in place, or start a new version when the latest has ever been
    published: a version that instances may have run is never changed (they are pinned to it).

    With `expected_revision` (what the caller read), a save on top of someone else's is a
    Conflict instead of silently replacing their work."""
    body = _normalised_body(body, definition_id=definition_id)
    secret_references_check(tenant=tenant, body=body)
    latest = _locked_versions(tenant, definition_id)[0]
    if expected_revision is not None and expected_revision != definition_revision(latest):
        raise Conflict(
            f"'{definition_id}' was saved by someone else since you opened it "
            f"(now version {latest.version}).",
            code="revision_conflict",
            details={"expected_revision": expected_revision,
                     "current_revision": definition_revision(latest),
                     "current_version": latest.version},
        )
    if not latest.is_published and latest.published_at is None:
        for field, value in _fields_from(body).items():
            setattr(latest, field, value)
        latest.created_by = latest.created_by or user
        latest.save()
        return latest
    WorkflowDefinition.objects.filter(pk=latest.pk).update(is_latest=False)
    return WorkflowDefinition.objects.create(
        tenant=tenant, definition_id=definition_id, version=latest.version + 1, is_latest=True,
        created_by=user, **_fields_from(body),
    )


@transaction.atomic
def definition_publish(*, tenant: Tenant, user, definition_id: str) -> WorkflowDefinition:
    """Publish the latest version; the previously published one (if any) is retracted."""
    versions = _locked_versions(tenant, definition_id)
    latest = versions[0]
    if latest.is_published:
        return latest
    problems = definition_problems(latest.body)
    if problems:
        raise InvalidInput("The latest version is not valid and cannot be published.",
                           errors=problems, code="invalid_definition")
    secret_references_check(tenant=tenant, body=latest.body)
    WorkflowDefinition.objects.filter(
        tenant=tenant, definition_id=definition_id, is_published=True
    ).update(is_published=False)
    latest.is_published = True
    latest.published_at = timezone.now()
    latest.save(update_fields=["is_published", "published_at", "updated_at"])
    triggers_index(definition=latest)
    cached_published_invalidate_on_commit(tenant.pk, definition_id)
    return latest


@transaction.atomic
def definition_retract(*, tenant: Tenant, user, definition_id: str) -> WorkflowDefinition:
    versions = _locked_versions(tenant, definition_id)
    published = next((v for v in versions if v.is_published), None)
    if published is None:
        raise Conflict(f"Definition '{definition_id}' has no published version.",
                       code="not_published")
    published.is_published = False
    published.save(update_fields=["is_published", "updated_at"])
    triggers_remove(tenant=tenant, definition_id=definition_id)
    cached_published_invalidate_on_commit(tenant.pk, definition_id)
    return versions[0] if versions[0].pk != published.pk else published


@transaction.atomic
def definition_delete(*, tenant: Tenant, user, definition_id: str) -> None:
    versions = _locked_versions(tenant, definition_id)
    if WorkflowInstance.objects.filter(tenant=tenant, definition_id=definition_id,
                                       status__in=InstanceStatus.active()).exists():
        raise Conflict(f"Definition '{definition_id}' has active instances; cancel them first.",
                       code="definition_in_use")
    triggers_remove(tenant=tenant, definition_id=definition_id)
    pks = [v.pk for v in versions]
    if not WorkflowInstance.objects.filter(definition_version_id__in=pks).exists():
        WorkflowDefinition.objects.filter(pk__in=pks).delete()
    else:
        # Many instances may hang off it: answer at once, and let housekeeping
        # (`retention.retention_apply`) archive and delete them in batches, then the versions.
        # Renamed out of the way, the id is free for a new definition right away.
        WorkflowDefinition.objects.filter(pk__in=pks).update(
            deleting_at=timezone.now(), is_latest=False, is_published=False,
            definition_id=f"~{uuid.uuid4().hex[:8]}~{definition_id}"[:100])
    cached_published_invalidate_on_commit(tenant.pk, definition_id)
