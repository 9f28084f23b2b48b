import secrets

from django.core.management.base import BaseCommand, CommandError

from workflows.models import ApiToken, Tenant
from workflows.services.hooks import token_hash


class Command(BaseCommand):
    help = "Create an API token for a tenant's HTTP endpoints (printed once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("name")

    def handle(self, *args, tenant, name, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant '{tenant}'.")
        if ApiToken.objects.filter(tenant=found, name=name).exists():
            raise CommandError(f"Tenant '{tenant}' already has a token named '{name}'.")
        token = f"wft_{secrets.token_urlsafe(32)}"
        ApiToken.objects.create(tenant=found, name=name, token_hash=token_hash(token))
        self.stdout.write(token)
