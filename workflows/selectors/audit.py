"""Reading the audit log, newest first."""

from datetime import datetime

from django.db.models import QuerySet

from workflows.models import AuditEntry, Tenant


def audit_list(
    *, tenant: Tenant, action: str | None = None, actor: str | None = None,
    target_type: str | None = None, target_id: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """A tenant's entries. `action` matches exactly or, ending in `.`, by prefix
    (`instance.` is every instance action)."""
    entries = AuditEntry.objects.filter(tenant=tenant)
    if action:
        entries = (entries.filter(action__startswith=action) if action.endswith(".")
                   else entries.filter(action=action))
    if actor:
        entries = entries.filter(actor=actor)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if target_id:
        entries = entries.filter(target_id=target_id)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    return entries.order_by("-id")
