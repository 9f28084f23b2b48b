"""Secrets in the admin: the value is a write-only field (never rendered back); saving goes
through the service, which encrypts it."""

from django import forms
from django.contrib import admin

from workflows.errors import InvalidInput
from workflows.models import Secret
from workflows.services.secrets import secret_check, secret_set


class SecretForm(forms.ModelForm):
    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False), required=False, strip=False,
        help_text="Write-only. Leave empty to keep the current value.")

    class Meta:
        model = Secret
        fields = ["tenant", "name"]

    def clean(self):
        cleaned = super().clean()
        value = cleaned.get("value")
        if self.instance.pk is None and not value:
            self.add_error("value", "A new secret needs a value.")
            return cleaned
        try:
            secret_check(cleaned.get("name", self.instance.name), value or None)
        except InvalidInput as exc:
            for error in exc.details["errors"]:
                field = error["path"] if error["path"] in self.fields else None
                self.add_error(field, error["message"])
        return cleaned


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ["name", "tenant", "created_at", "updated_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]

    def get_readonly_fields(self, request, obj=None):
        # Renaming would silently break the definitions that use the name.
        return ["tenant", "name"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data.get("value")
        tenant = obj.tenant if change else form.cleaned_data["tenant"]
        name = obj.name if change else form.cleaned_data["name"]
        if value:
            saved, _ = secret_set(tenant=tenant, name=name, value=value)
            obj.pk, obj.ciphertext = saved.pk, saved.ciphertext
