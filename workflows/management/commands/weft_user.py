from django.core.management.base import BaseCommand, CommandError

from workflows.auditing import audited, command_actor
from workflows.errors import WeftError
from workflows.models import Role
from workflows.services.tenancy import tenant_member_ensure


class Command(BaseCommand):
    help = "Create a tenant (when missing) and a user with a role in it."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug, created when missing")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.VIEWER)
        parser.add_argument("--password", help="set (or reset) the user's password")
        parser.add_argument("--superuser", action="store_true",
                            help="also make the user a Django superuser (for /admin/)")

    def handle(self, *args, tenant, username, role, password, superuser, **options):
        summary = f"{username} is {role}" + (" (password set)" if password else "") + \
            (" and a superuser" if superuser else "")
        try:
            with audited(command_actor(), action="membership.ensure", tenant=None,
                         target_type="membership", summary=summary) as note:
                membership = tenant_member_ensure(
                    tenant_slug=tenant, username=username, role=role, password=password
                )
                note.tenant, note.target_id = membership.tenant, str(membership.pk)
                if superuser:
                    user = membership.user
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
        except WeftError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{username} is {role} in tenant {tenant}")
