from django.db.models import QuerySet

from workflows.models import Membership


def membership_list(*, user) -> QuerySet[Membership]:
    """A user's memberships with their tenants, by tenant slug."""
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")
