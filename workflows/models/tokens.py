from django.conf import settings
from django.db import models


class UserTokenVersion(models.Model):
    """A user's token generation. Every access and refresh token carries the version it was
    issued under (claim `tv`); revoking a user's tokens bumps it, so tokens already handed out
    stop working at their next request instead of at their expiry."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="weft_token_version")
    version = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} (token version {self.version})"
