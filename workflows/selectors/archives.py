"""Reads of the archive records of deleted instances (the archives themselves: services.archive)."""

from workflows.models import InstanceArchive, Tenant


def instance_archive_find(*, tenant: Tenant, instance_id) -> InstanceArchive | None:
    return InstanceArchive.objects.filter(tenant=tenant, instance_id=instance_id).first()
