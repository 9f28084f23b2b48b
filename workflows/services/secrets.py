"""Tenant secrets: encrypted at rest with Fernet (keys from `WEFT_SECRETS_KEYS`, newest first,
so keys rotate), written by tenant admins, read only by running workflows.

Nothing here logs or returns a value except `secret_value_for_instance`, which the engine's
secret source calls while an activity runs (runtime.engine.secrets)."""

import base64
import hashlib
import re
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import IntegrityError, transaction

from runtime.engine.secrets import MIN_SECRET_LENGTH
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.models import Secret, Tenant, WorkflowInstance

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_SECRET_LENGTH = 65_536
# `secrets.NAME` and `secrets["NAME"]` / `secrets['NAME']` in expressions and templates.
_REFERENCE = re.compile(
    r"\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:\"([^\"]*)\"|'([^']*)')\s*\])")


def _fernet() -> MultiFernet:
    keys = list(settings.WEFT_SECRETS_KEYS)
    if not keys:
        # Development default (`make run`): derived from SECRET_KEY. Production sets its own.
        digest = hashlib.sha256(b"weft-secrets:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def marker_key() -> bytes:
    return hashlib.sha256(b"weft-secret-markers:" + settings.SECRET_KEY.encode()).digest()


def secret_check(name: Any, value: Any) -> None:
    errors = []
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors.append({"path": "name", "message": "A letter or underscore, then letters, "
                       "digits or underscores; at most 64 characters."})
    if value is not None and (not isinstance(value, str)
                              or not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH):
        errors.append({"path": "value", "message": f"A string of {MIN_SECRET_LENGTH} to "
                       f"{MAX_SECRET_LENGTH} characters."})
    if errors:
        raise InvalidInput("The secret is not valid.", errors=errors, code="invalid_secret")


@transaction.atomic
def secret_create(*, tenant: Tenant, name: str, value: str) -> Secret:
    secret_check(name, value)
    try:
        with transaction.atomic():
            return Secret.objects.create(tenant=tenant, name=name,
                                         ciphertext=_fernet().encrypt(value.encode()).decode())
    except IntegrityError as exc:
        raise Conflict(f"Secret '{name}' already exists.", code="secret_exists") from exc


@transaction.atomic
def secret_set(*, tenant: Tenant, name: str, value: str) -> tuple[Secret, bool]:
    """Create or replace; (secret, created)."""
    secret_check(name, value)
    secret, created = Secret.objects.update_or_create(
        tenant=tenant, name=name,
        defaults={"ciphertext": _fernet().encrypt(value.encode()).decode()})
    return secret, created


@transaction.atomic
def secret_delete(*, tenant: Tenant, name: str) -> None:
    deleted, _ = Secret.objects.filter(tenant=tenant, name=name).delete()
    if not deleted:
        raise NotFound(f"Secret '{name}' not found.", code="secret_not_found")


def secret_decrypt(secret: Secret) -> str:
    return _fernet().decrypt(secret.ciphertext.encode()).decode()


def secret_value_for_instance(*, instance_id: str, name: str) -> str | None:
    """The value of `name` in the instance's tenant (one query), or None when there is none."""
    secret = Secret.objects.filter(
        name=name,
        tenant_id=WorkflowInstance.objects.filter(pk=instance_id).values("tenant_id")[:1],
    ).first()
    return secret_decrypt(secret) if secret is not None else None


def secrets_reencrypt() -> int:
    """Re-encrypts every secret with the newest key (after adding a key in front of
    `WEFT_SECRETS_KEYS`); afterwards the old keys can be removed. Returns how many."""
    fernet = _fernet()
    count = 0
    for pk in Secret.objects.order_by("pk").values_list("pk", flat=True).iterator():
        with transaction.atomic():
            secret = Secret.objects.select_for_update().filter(pk=pk).first()
            if secret is None:
                continue
            try:
                secret.ciphertext = fernet.rotate(secret.ciphertext.encode()).decode()
            except InvalidToken as exc:
                raise InvalidInput(f"Secret {secret} cannot be decrypted with any key in "
                                   "WEFT_SECRETS_KEYS.", code="secret_key_missing") from exc
            secret.save(update_fields=["ciphertext", "updated_at"])
            count += 1
    return count


def secret_references(body: Any, path: str = "") -> list[tuple[str, str]]:
    """(JSON path, secret name) for each `secrets.NAME` in the expressions and templates of a
    definition body."""
    found = []
    if isinstance(body, dict):
        if len(body) == 1 and "literal" in body:
            return found  # JSON taken as is: nothing in it is evaluated
        if len(body) == 1 and isinstance(body.get("expr", body.get("template")), str):
            source = body.get("expr", body.get("template"))
            for match in _REFERENCE.finditer(source):
                found.append((path, next(g for g in match.groups() if g is not None)))
            return found
        for key, value in body.items():
            found += secret_references(value, f"{path}.{key}" if path else str(key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            found += secret_references(value, f"{path}[{index}]")
    return found


def secret_references_check(*, tenant: Tenant, body: Any) -> None:
    """Refuses a definition that names secrets this tenant does not have (a clear 400 at save
    time instead of an incident at run time)."""
    references = secret_references(body)
    if not references:
        return
    known = set(Secret.objects.filter(tenant=tenant, name__in={n for _, n in references})
                .values_list("name", flat=True))
    errors = [{"path": path, "message": f"Unknown secret '{name}': create it first "
               "(tenant admins: /api/v1/secrets/)."}
              for path, name in references if name not in known]
    if errors:
        raise InvalidInput("The definition uses secrets that do not exist.", errors=errors,
                           code="unknown_secret")


class DatabaseSecretSource:
    """What the engine resolves `secrets.NAME` through (installed by WorkflowsConfig.ready)."""

    def resolve(self, instance_id: str, name: str) -> str | None:
        if not NAME_PATTERN.match(name):
            return None
        return secret_value_for_instance(instance_id=instance_id, name=name)

    def marker_key(self) -> bytes:
        return marker_key()
