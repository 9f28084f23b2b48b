from django.core.management.base import BaseCommand, CommandError

from workflows.auditing import audited, command_actor
from workflows.errors import WeftError
from workflows.models import Tenant
from workflows.services.tenancy import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a tenant's HTTP endpoints (printed once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("name")

    def handle(self, *args, tenant, name, **options):
        try:
            with audited(command_actor(), action="api_token.create",
                         tenant=Tenant.objects.filter(slug=tenant).first(),
                         target_type="api_token", target_id=name,
                         summary=f"created API token '{name}'"):
                token = api_token_create(tenant_slug=tenant, name=name)
            self.stdout.write(token)
        except WeftError as exc:
            raise CommandError(exc.message) from exc
