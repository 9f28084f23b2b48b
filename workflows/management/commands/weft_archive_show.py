import json
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from workflows.errors import WeftError
from workflows.services.archive import archive_records_read, archive_store_from_settings


class Command(BaseCommand):
    help = ("Read an archived instance back from the S3 archive: its instance row, journal, "
            "activity executions and incidents, as one JSON document (or JSON Lines).")

    def add_arguments(self, parser):
        parser.add_argument("instance_id")
        parser.add_argument("--jsonl", action="store_true",
                            help="One record per line, as stored in the archive.")

    def handle(self, *args, instance_id, jsonl, **options):
        try:
            instance_id = uuid.UUID(instance_id)
        except ValueError as exc:
            raise CommandError(f"'{instance_id}' is not an instance id.") from exc
        try:
            content = archive_records_read(store=archive_store_from_settings(), tenant=None,
                                           instance_id=instance_id)
        except WeftError as exc:
            raise CommandError(exc.message) from exc
        record = content.pop("archive")
        location = {"bucket": record.bucket, "key": record.key, "size": record.size,
                    "sha256": record.sha256, "archived_at": record.archived_at}
        if not jsonl:
            self.stdout.write(json.dumps({"archive": location, **content}, indent=2,
                                         cls=DjangoJSONEncoder))
            return
        lines = [{"record": "instance", "data": content["instance"]}]
        for kind, key in (("journal", "journal"), ("activity_execution", "activity_executions"),
                          ("incident", "incidents")):
            lines += [{"record": kind, "data": row} for row in content[key]]
        for line in lines:
            self.stdout.write(json.dumps(line, cls=DjangoJSONEncoder))
