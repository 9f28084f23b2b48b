"""How the admin shows runtime values: JSON pretty-printed with secrets masked, short ids,
compact times. One place, so every admin page masks the same way."""

import json

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html

from runtime.engine.masking import mask_secrets
from workflows.admin_logging import AuditedAdmin


def masked(value, secret_names=()):
    """Secrets masked by the one rule storage, API and logs use; `secret_names` adds the
    names a definition marks secret (sealed columns read back in clear in memory)."""
    return mask_secrets(value, frozenset(secret_names)) if secret_names else mask_secrets(value)


def pretty_json(value, *, mask: bool = True, secret_names=()) -> str:
    if value is None:
        return format_html("<span class='quiet'>{}</span>", "none")
    shown = masked(value, secret_names) if mask else value
    return format_html("<pre class='weft-json'>{}</pre>",
                       json.dumps(shown, indent=2, default=str, ensure_ascii=False))


def json_text(value, secret_names=()) -> str:
    """Masked JSON as text for templates (they escape it)."""
    if value is None:
        return ""
    return json.dumps(masked(value, secret_names), indent=2, default=str, ensure_ascii=False)


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


_PK = "__pk__"
_change_url_templates: dict[tuple[str, str], str] = {}


def change_url(model_name: str, pk) -> str:
    """The admin change page of a `workflows` row, like `reverse(...)` but a string
    substitution after the first call: list pages link every row, and each `reverse` walks the
    admin's URL patterns again (a tenth of a page's time)."""
    key = (model_name, get_script_prefix())
    template = _change_url_templates.get(key)
    if template is None:
        template = reverse(f"admin:workflows_{model_name}_change", args=[_PK])
        _change_url_templates[key] = template
    return template.replace(_PK, quote(str(pk)))


def instance_link(instance_id) -> str:
    if instance_id is None:
        return "-"
    url = change_url("workflowinstance", instance_id)
    return format_html("<a href='{}'>{}</a>", url, short_id(instance_id))
