from django.db.models import QuerySet

from workflows.models import DeadLetter, Tenant


def dead_letter_list(*, tenant: Tenant) -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(tenant=tenant).order_by("-received_at")
