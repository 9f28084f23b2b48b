"""The beat leader fires durable timers itself (workflows.scheduler): the periodic task that did
it through a worker, installed in django-celery-beat's table from CELERY_BEAT_SCHEDULE, goes
(django-celery-beat keeps entries that left the schedule, and would send it every second)."""

from django.db import migrations

STALE_ENTRY = "weft-fire-due-timers"


def drop_stale_entry(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=STALE_ENTRY, task="weft.fire_due_timers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0016_retention_and_archive"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(drop_stale_entry, migrations.RunPython.noop)]
