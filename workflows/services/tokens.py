"""API tokens: revoking every token a user holds (logout everywhere, or an admin's action)."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from workflows.models import UserTokenVersion

TOKEN_VERSION_CLAIM = "tv"  # noqa: S105 (a claim name, not a secret)


def token_version_get(*, user) -> int:
    """The version new tokens of this user are issued under (0 until the first revocation)."""
    row = UserTokenVersion.objects.filter(user=user).only("version").first()
    return row.version if row else 0


def user_tokens_revoked_at(*, user):
    """When this user's tokens were last revoked (None: never)."""
    return (UserTokenVersion.objects.filter(user=user).values_list("revoked_at", flat=True)
            .first())


@transaction.atomic
def user_tokens_revoke(*, user) -> int:
    """Every token issued to `user` so far stops working: access tokens at their next request
    (their version is now stale), refresh tokens because they are blacklisted too. Returns the
    new version."""
    now = timezone.now()
    row, created = UserTokenVersion.objects.select_for_update().get_or_create(
        user=user, defaults={"version": 1, "revoked_at": now})
    if not created:
        UserTokenVersion.objects.filter(pk=row.pk).update(version=F("version") + 1,
                                                          revoked_at=now)
        row.refresh_from_db()
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=now).exclude(
        blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True)
    return row.version
