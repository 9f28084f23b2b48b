"""Reads of tenant secrets: names and dates only (values: workflows.services.secrets)."""

from django.db.models import QuerySet

from workflows.errors import NotFound
from workflows.models import Secret, Tenant


def secret_list(*, tenant: Tenant) -> QuerySet[Secret]:
    return Secret.objects.filter(tenant=tenant).order_by("name").defer("ciphertext")


def secret_get(*, tenant: Tenant, name: str) -> Secret:
    secret = Secret.objects.filter(tenant=tenant, name=name).defer("ciphertext").first()
    if secret is None:
        raise NotFound(f"Secret '{name}' not found.", code="secret_not_found")
    return secret
