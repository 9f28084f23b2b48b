from django.core.management.base import BaseCommand, CommandError

from workflows.errors import WeftError
from workflows.services.secrets import secrets_reencrypt


class Command(BaseCommand):
    help = ("Re-encrypt every tenant secret with the newest key of WEFT_SECRETS_KEYS (put the new "
            "key first, run this, then drop the old key).")

    def handle(self, *args, **options):
        try:
            count = secrets_reencrypt()
        except WeftError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"re-encrypted {count} secrets with the newest key")
