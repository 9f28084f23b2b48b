"""Tenants, their members and their API tokens."""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.models import ApiToken, Membership, Role, Tenant


def token_hash(token: str) -> str:
    """How an API token is stored: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid(path: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"path": path, "message": message}])


def _check_member_fields(*, tenant_slug: str, username: str, role: str) -> None:
    if role not in Role.values:
        raise _invalid("role", f"Unknown role '{role}': one of {', '.join(Role.values)}.")
    try:
        validate_slug(tenant_slug)
    except ValidationError:
        raise _invalid("tenant", f"Invalid tenant slug '{tenant_slug}': use letters, digits, "
                                 "- and _.") from None
    if len(tenant_slug) > Tenant._meta.get_field("slug").max_length:
        raise _invalid("tenant", "The tenant slug is longer than 63 characters.")
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    try:
        field.run_validators(username)
        if not username:
            raise ValidationError("empty")
    except ValidationError:
        raise _invalid("username", f"Invalid username '{username}': up to {field.max_length} "
                                   "letters, digits and @ . + - _.") from None


@transaction.atomic
def tenant_member_ensure(
    *, tenant_slug: str, username: str, role: str, password: str | None = None,
    tenant_name: str | None = None,
) -> Membership:
    """Create the tenant when missing, the user when missing, and set the user's role there.
    A password must pass the configured password validators."""
    _check_member_fields(tenant_slug=tenant_slug, username=username, role=role)
    tenant, _ = Tenant.objects.get_or_create(
        slug=tenant_slug, defaults={"name": tenant_name or tenant_slug}
    )
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise _invalid("password", " ".join(exc.messages)) from None
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def api_token_create(*, tenant_slug: str, name: str) -> str:
    """A new API token for the tenant's HTTP endpoints; returns it (only its hash is kept)."""
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        raise NotFound(f"No tenant '{tenant_slug}'.")
    limit = ApiToken._meta.get_field("name").max_length
    if not name.strip() or len(name) > limit or "\x00" in name:
        raise _invalid("name", f"A token name is 1 to {limit} characters.")
    if ApiToken.objects.filter(tenant=tenant, name=name).exists():
        raise Conflict(f"Tenant '{tenant_slug}' already has a token named '{name}'.")
    token = f"wft_{secrets.token_urlsafe(32)}"
    ApiToken.objects.create(tenant=tenant, name=name, token_hash=token_hash(token))
    return token
