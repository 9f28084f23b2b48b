from datetime import timedelta

from django.conf import settings
from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.utils import timezone

from workflows.models import WorkerProcess, WorkerState


def worker_list(*, include_stopped: bool = True) -> QuerySet[WorkerProcess]:
    """Worker processes with their state as of now: one whose heartbeat is overdue shows as
    lost even before the sweeper records it."""
    cutoff = timezone.now() - timedelta(seconds=settings.WEFT_WORKER_LOST_AFTER)
    queryset = WorkerProcess.objects.annotate(
        current_state=Case(
            When(state=WorkerState.ONLINE, last_heartbeat__lt=cutoff, then=Value("lost")),
            default=F("state"), output_field=CharField(),
        )
    ).order_by("-last_heartbeat")
    if not include_stopped:
        queryset = queryset.exclude(state=WorkerState.STOPPED)
    return queryset
