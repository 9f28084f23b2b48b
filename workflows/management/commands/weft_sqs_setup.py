"""`manage.py weft_sqs_setup [--queue NAME ...]`: create the SQS queues and their dead-letter
queues (RedrivePolicy after 3 receives, the configured visibility timeout); safe to re-run."""

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workflows.sqs.config import base_queue_name
from workflows.sqs.queues import ensure_queues_for


class Command(BaseCommand):
    help = (
        "Create workflow-tasks (+ WEFT_SQS_QUEUES and --queue names) with their dead-letter "
        "queues on the configured SQS, and print their URLs. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            action="append",
            default=[],
            metavar="NAME",
            help="an extra queue (a definition's options.queue); repeatable",
        )

    def handle(self, *args, queue, **options):
        sqs = settings.WEFT_SQS
        if not sqs.uses_sqs:
            raise CommandError(
                f"The broker is {sqs.broker_url!r}, not SQS: set AWS_ENDPOINT_URL_SQS (local "
                "server) or AWS credentials, or CELERY_BROKER_URL=sqs://"
            )
        try:
            urls = ensure_queues_for(sqs, extra=queue)
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"Could not create the SQS queues: {exc}") from exc
        for name, url in urls.items():
            self.stdout.write(f"{name}\t{url}")
        unknown = [q for q in queue if base_queue_name(q) not in sqs.base_queues]
        if unknown and "predefined_queues" in sqs.transport_options():
            self.stderr.write(
                f"Add {', '.join(unknown)} to WEFT_SQS_QUEUES so workers and publishers may "
                "use them (kombu only uses the queues it is told about)."
            )
