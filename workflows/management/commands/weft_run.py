"""`make run`: migrate, create a demo tenant and user, then run every process of the platform
on this machine until Ctrl-C (which stops all of them)."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from workflows.services.tenancy import tenant_member_ensure

DEMO_TENANT, DEMO_USER, DEMO_PASSWORD = "demo", "demo", "demo-password"


class Command(BaseCommand):
    help = "Run the whole Weft platform locally (web; worker, beat and SQS as they land)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WEFT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEFT_PORT", "8000")))

    def handle(self, *args, host, port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        membership = tenant_member_ensure(
            tenant_slug=DEMO_TENANT, username=DEMO_USER, role="admin", password=DEMO_PASSWORD
        )
        user = membership.user
        if not user.is_superuser:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        base = f"http://{host}:{port}"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            "\nWeft is starting.\n"
            f"  API       {base}/api/v1/\n"
            f"  Docs      {base}/api/docs/\n"
            f"  Admin     {base}/admin/\n"
            f"  Login     {DEMO_USER} / {DEMO_PASSWORD} (tenant '{DEMO_TENANT}', role admin)\n"
            f"  Database  {database}\n"
            f"  Token     curl -s -XPOST {base}/api/v1/auth/token/ -H 'Content-Type: "
            f"application/json' -d '{{\"username\":\"{DEMO_USER}\",\"password\":"
            f"\"{DEMO_PASSWORD}\"}}'\n"
            "Press Ctrl-C to stop everything.\n"
        )
        processes = {
            "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        }
        self._supervise(processes)

    def _supervise(self, commands: dict[str, list[str]]) -> None:
        # Our own fixed command lines, never user input.
        running = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in running.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in running.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in running.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write("Weft stopped.")
