from django.core.management.base import BaseCommand, CommandError

from workflows.errors import WeftError
from workflows.services.tenancy import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a tenant's HTTP endpoints (printed once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("name")

    def handle(self, *args, tenant, name, **options):
        try:
            self.stdout.write(api_token_create(tenant_slug=tenant, name=name))
        except WeftError as exc:
            raise CommandError(exc.message) from exc
