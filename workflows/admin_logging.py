"""Admin changes in the audit log: the admin's own change log hooks (`log_addition`,
`log_change`, `log_deletions`) also append an audit entry, in the admin's transaction, so an
edit made through a form leaves one entry like a change made through the API."""

from django.contrib import admin

from workflows.auditing import request_actor
from workflows.models import Tenant
from workflows.services.audit import audit_record


def tenant_of(obj) -> Tenant | None:
    if isinstance(obj, Tenant):
        return obj
    tenant = getattr(obj, "tenant", None)
    return tenant if isinstance(tenant, Tenant) else None


def _target_type(obj) -> str:
    return obj._meta.model_name


def _changed_fields(message) -> str:
    """The field names of the admin's change message (a list of {"changed": {...}})."""
    names = []
    for part in message if isinstance(message, list) else []:
        for verb, detail in part.items():
            fields = detail.get("fields", []) if isinstance(detail, dict) else []
            names.extend(f"{verb} {field}" if verb != "changed" else str(field)
                         for field in fields)
            if verb != "changed" and not fields:
                names.append(f"{verb} {detail.get('name', '')} {detail.get('object', '')}")
    return ", ".join(n.strip() for n in names)


class AuditedAdmin(admin.ModelAdmin):
    """Mix in before `admin.ModelAdmin` (or a subclass of it)."""

    def _audit(self, request, obj, action: str, summary: str) -> None:
        audit_record(actor=request_actor(request, via="admin"),
                     action=f"{_target_type(obj)}.{action}", tenant=tenant_of(obj),
                     target_type=_target_type(obj), target_id=str(obj.pk),
                     summary=f"{summary}: {obj}"[:500])

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "add", "added")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        changed = _changed_fields(message)
        self._audit(request, obj, "change", f"changed {changed}" if changed else "saved")
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete", "deleted")
        return super().log_deletions(request, queryset)
