from django.db import models

from workflows.models.tenancy import Tenant


class Secret(models.Model):
    """A tenant's named secret (an API key, a password), read by definitions as `secrets.NAME`.

    Only the Fernet token is stored (see workflows.services.secrets); the value is write-only
    everywhere: the API, the admin and the logs show the name and dates, never the value."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="secret_unique_name"),
        ]
        ordering = ["tenant__slug", "name"]

    def __str__(self) -> str:
        return f"{self.tenant}: {self.name}"
