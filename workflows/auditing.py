"""Who acts in a request, for the audit log, and the one call an adapter makes per change.

API views and admin pages both use `audited`: it runs the change and records its entry in one
transaction, so an entry exists exactly when the change committed (a refused or failed change
leaves none). The client address follows the rule the throttles use, named by the
`WEFT_CLIENT_ADDRESS` setting so that this app does not import the API package.
"""

import contextlib
import getpass
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from workflows.models import ApiToken, Tenant
from workflows.services.audit import AuditActor, audit_record


@cache
def _client_address():
    return import_string(settings.WEFT_CLIENT_ADDRESS)


def request_actor(request, *, via: str) -> AuditActor:
    """The user (or API token) behind a request, its request id and client address."""
    token = getattr(request, "auth", None)
    token = token if isinstance(token, ApiToken) else None
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    if token is not None:
        label = f"token:{token.name}"
    elif user is not None:
        label = user.get_username()
    else:
        label = "anonymous"
    try:
        address = _client_address()(request.META) or ""
    except Exception:  # an odd header must not refuse the change itself
        address = request.META.get("REMOTE_ADDR", "")
    return AuditActor(label=label, via=via, user=user, token=token,
                      request_id=getattr(request, "request_id", ""), client_address=address)


def command_actor() -> AuditActor:
    """A management command: the operating-system user who ran it."""
    try:
        login = getpass.getuser()
    except Exception:
        login = "unknown"
    return AuditActor(label=f"cli:{login}", via="cli")


@dataclass
class AuditNote:
    """What the entry will say; the change may fill it in (ids known only afterwards)."""

    tenant: Tenant | None
    target_type: str
    target_id: str = ""
    summary: str = ""
    details: dict = field(default_factory=dict)


@contextlib.contextmanager
def audited(actor: AuditActor, *, action: str, tenant: Tenant | None, target_type: str,
            target_id: str = "", summary: str = ""):
    """Run the block and record its audit entry in the same transaction."""
    note = AuditNote(tenant=tenant, target_type=target_type, target_id=str(target_id),
                     summary=summary)
    with transaction.atomic():
        yield note
        audit_record(actor=actor, action=action, tenant=note.tenant,
                     target_type=note.target_type, target_id=note.target_id,
                     summary=note.summary, details=note.details)


def event_summary(result: dict) -> str:
    """One line for an event publish's entry."""
    return (f"{len(result.get('resumed', []))} wait(s) resumed, "
            f"{len(result.get('started', []))} instance(s) started")
