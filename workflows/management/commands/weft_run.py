"""`make run`: the whole platform on this machine until Ctrl-C.

Migrates, creates a demo tenant and user, loads the example definitions, starts a local SQS
server when no SQS is configured (creating the queues and dead-letter queues), then runs the
web server, a worker and beat, and stops all of them on one Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from workflows.services.archive import archive_bucket_ensure, archive_store
from workflows.services.examples import examples_load
from workflows.services.tenancy import tenant_member_ensure
from workflows.sqs.config import sqs_settings
from workflows.sqs.local_server import LocalSqsServer
from workflows.sqs.queues import ensure_queues_for, missing_queues_message

DEMO_TENANT, DEMO_USER, DEMO_PASSWORD = "demo", "demo", "demo-password"
# Development only: SendHttpRequest may call services on this machine (a mock API on
# localhost). Production processes (gunicorn, celery) never get this default.
DEV_HTTP_ALLOWED_HOSTS = "localhost,127.0.0.0/8,::1"
DEV_ARCHIVE_BUCKET = "weft-archive"


class Command(BaseCommand):
    help = "Run the whole Weft platform locally: web, worker, beat and (if needed) SQS."
    process_env: dict[str, dict[str, str]] = {}

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WEFT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WEFT_PORT", "8000")))
        parser.add_argument("--sqs-port", type=int,
                            default=int(os.environ.get("WEFT_SQS_PORT", "9324")))
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--metrics-port", type=int,
                            default=int(os.environ.get("WEFT_METRICS_PORT", "9101")),
                            help="the worker's metrics endpoint; the beat's is the next port "
                                 "(0: none)")

    def handle(self, *args, host, port, sqs_port, concurrency, metrics_port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        membership = tenant_member_ensure(
            tenant_slug=DEMO_TENANT, username=DEMO_USER, role="admin", password=DEMO_PASSWORD
        )
        user = membership.user
        if not user.is_superuser:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        loaded = examples_load(tenant=membership.tenant, user=user)
        env = dict(os.environ)
        env.setdefault("WEFT_LOG_FORMAT", "console")
        env.setdefault("WEFT_HTTP_ALLOWED_HOSTS", DEV_HTTP_ALLOWED_HOSTS)
        sqs_server = None
        if not settings.WEFT_SQS.uses_sqs:
            sqs_server = LocalSqsServer(port=sqs_port, log_path=settings.VAR_DIR / "sqs.log")
            sqs_server.start()
            env.update({"AWS_ENDPOINT_URL_SQS": sqs_server.url, "AWS_ACCESS_KEY_ID": "local",
                        "AWS_SECRET_ACCESS_KEY": "local",
                        "AWS_REGION": env.get("AWS_REGION", "us-east-1")})
        try:
            ensure_queues_for(sqs_settings(env))
        except (BotoCoreError, ClientError) as exc:
            # The same line a worker and /readyz give when the queues are missing.
            raise CommandError(f"Could not create the SQS queues ({exc}). "
                               + missing_queues_message([settings.WEFT_SQS.sqs_queue()])) from exc
        if sqs_server is not None and not env.get("AWS_ENDPOINT_URL_S3"):
            # The same local server keeps the archive (in memory: gone when it stops).
            env["AWS_ENDPOINT_URL_S3"] = sqs_server.url
            env.setdefault("WEFT_ARCHIVE_BUCKET", DEV_ARCHIVE_BUCKET)
            # Large values go to the database, which outlives this in-memory S3.
            env.setdefault("WEFT_PAYLOAD_STORE", "db")
        if env.get("WEFT_ARCHIVE_BUCKET") and sqs_server is not None:
            archive_bucket_ensure(store=archive_store(
                bucket=env["WEFT_ARCHIVE_BUCKET"], prefix="", region=env["AWS_REGION"],
                endpoint_url=env["AWS_ENDPOINT_URL_S3"], access_key_id=env["AWS_ACCESS_KEY_ID"],
                secret_access_key=env["AWS_SECRET_ACCESS_KEY"]))
        base = f"http://{host}:{port}"
        allowed = env["WEFT_HTTP_ALLOWED_HOSTS"] or "public hosts only"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        broker = sqs_server.url + " (embedded moto)" if sqs_server else env.get(
            "AWS_ENDPOINT_URL_SQS", "AWS SQS")
        self.stdout.write(
            "\nWeft is starting.\n"
            f"  Studio    {base}/studio/\n"
            f"  API       {base}/api/v1/\n"
            f"  Docs      {base}/api/docs/\n"
            f"  Admin     {base}/admin/\n"
            f"  Login     {DEMO_USER} / {DEMO_PASSWORD} (tenant '{DEMO_TENANT}', role admin)\n"
            f"  Web       Django's development server (manage.py runserver {host}:{port}); "
            "production runs gunicorn\n"
            f"  Database  {database}    Broker  {broker}\n"
            f"  Archive   {env.get('WEFT_ARCHIVE_BUCKET') or 'off (WEFT_ARCHIVE_BUCKET)'}\n"
            f"  HTTP      SendHttpRequest may call {allowed} (WEFT_HTTP_ALLOWED_HOSTS)\n"
            f"  Examples  {', '.join(loaded) or 'already loaded'}\n"
            f"  Metrics   {base}/metrics"
            + (f", worker :{metrics_port}, beat :{metrics_port + 1}" if metrics_port else "")
            + "\n"
            f"  Token     curl -s -XPOST {base}/api/v1/auth/token/ -H 'Content-Type: "
            f"application/json' -d '{{\"username\":\"{DEMO_USER}\",\"password\":"
            f"\"{DEMO_PASSWORD}\"}}'\n"
            "Press Ctrl-C to stop everything.\n"
        )
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        processes = {
            "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency",
                       str(concurrency), "--hostname", "worker1@%h"],
            "beat": [*celery, "beat", "-S", "workflows.scheduler:LockedDatabaseScheduler",
                     "--loglevel", "INFO",
                     "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")],
        }
        if metrics_port:
            self.process_env = {"worker": {"WEFT_METRICS_PORT": str(metrics_port)},
                                "beat": {"WEFT_BEAT_METRICS_PORT": str(metrics_port + 1)}}
        try:
            self._supervise(processes, env)
        finally:
            if sqs_server is not None:
                sqs_server.stop()

    def _supervise(self, commands: dict[str, list[str]], env: dict) -> None:
        # Our own fixed command lines, never user input. Each child gets its own process group
        # so that the terminal's Ctrl-C reaches only us, and we stop them in order.
        running = {
            name: subprocess.Popen(  # noqa: S603
                cmd, env={**env, **self.process_env.get(name, {})}, start_new_session=True)
            for name, cmd in commands.items()
        }
        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)
        parent = os.getppid()
        try:
            while not stopping:
                if os.getppid() != parent:
                    # Whoever started us (`make run`) was killed without passing the signal
                    # on: stop rather than leave the platform running with nobody to stop it.
                    self.stderr.write("The parent process is gone; stopping.")
                    stopping = True
                for name, process in running.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in running.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in running.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write("Weft stopped.")
