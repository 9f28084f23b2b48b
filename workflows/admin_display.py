"""How the admin shows runtime values: JSON pretty-printed with secrets masked, short ids,
compact times. One place, so every admin page masks the same way."""

import json
from functools import cache

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.module_loading import import_string

from workflows.admin_logging import AuditedAdmin


@cache
def _masker():
    # The masking the logs use (secret-looking keys, at any depth), named by a setting so that
    # this app does not import the project's config package and a new policy is one change.
    return import_string(settings.WEFT_SECRET_MASKER)


def masked(value):
    return _masker()(value)


def pretty_json(value, *, mask: bool = True) -> str:
    if value is None:
        return format_html("<span class='quiet'>{}</span>", "none")
    shown = masked(value) if mask else value
    return format_html("<pre class='weft-json'>{}</pre>",
                       json.dumps(shown, indent=2, default=str, ensure_ascii=False))


def json_text(value) -> str:
    """Masked JSON as text for templates (they escape it)."""
    if value is None:
        return ""
    return json.dumps(masked(value), indent=2, default=str, ensure_ascii=False)


def short_id(value) -> str:
    """The first 8 characters of a UUID: enough to tell rows apart in a list."""
    return str(value)[:8] if value else ""


def compact_time(value) -> str:
    """`MM-DD HH:MM:SS` on one line: lists stay narrow (the year shows on the record)."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    return format_html("<span class='weft-nowrap' title='{}'>{}</span>",
                       f"{local:%Y-%m-%d %H:%M:%S %Z}", f"{local:%m-%d %H:%M:%S}")


class CompactLists:
    """Admin media shared by the runtime and definition admins."""

    class Media:
        css = {"all": ["workflows/admin.css"]}


class ReadOnlyAdmin(AuditedAdmin, CompactLists, admin.ModelAdmin):
    """Records only the runtime writes: no add, no edit, no delete form."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def instance_link(instance_id) -> str:
    if instance_id is None:
        return "-"
    url = reverse("admin:workflows_workflowinstance_change", args=[instance_id])
    return format_html("<a href='{}'>{}</a>", url, short_id(instance_id))
