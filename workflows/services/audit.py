"""The audit log's writes: one entry per change a person or token makes, and the retention
purge. Adapters (API views, admin, management commands) say who acts (`AuditActor`) and call
`audit_record` in the transaction of the change, so a change and its entry commit together."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from workflows.models import ApiToken, AuditEntry, Tenant

SUMMARY_LIMIT = AuditEntry._meta.get_field("summary").max_length


@dataclass(frozen=True)
class AuditActor:
    """Who acts, and from where."""

    label: str
    via: str  # api | admin | cli
    user: object | None = None
    token: ApiToken | None = None
    request_id: str = ""
    client_address: str = ""


def audit_record(
    *, actor: AuditActor, action: str, tenant: Tenant | None, target_type: str,
    target_id: str = "", summary: str = "", details: dict | None = None,
) -> AuditEntry:
    """Append one entry (never updated afterwards)."""
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 1] + "…"
    return AuditEntry.objects.create(
        at=timezone.now(), tenant=tenant, tenant_slug=tenant.slug if tenant else "",
        actor=actor.label[:200], actor_user=actor.user, actor_token=actor.token,
        action=action, target_type=target_type, target_id=str(target_id)[:200],
        summary=summary, details=details or {}, request_id=actor.request_id[:64],
        client_address=actor.client_address[:100], via=actor.via,
    )


@transaction.atomic
def audit_entries_purge(*, now, retention_days: int) -> int:
    """Delete entries older than the retention; 0 days keeps them for ever."""
    if retention_days <= 0:
        return 0
    deleted, _ = AuditEntry.objects.filter(at__lt=now - timedelta(days=retention_days)).delete()
    return deleted
