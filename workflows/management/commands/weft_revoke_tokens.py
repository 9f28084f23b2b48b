from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows.services.tokens import user_tokens_revoke


class Command(BaseCommand):
    help = ("Revoke every API token of a user at once (access tokens stop working at their next "
            "request, refresh tokens are blacklisted).")

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'.")
        version = user_tokens_revoke(user=user)
        self.stdout.write(f"revoked every token of {username} (token version {version})")
