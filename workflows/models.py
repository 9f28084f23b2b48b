"""Weft's system of record. Models hold data only: writes go through `workflows.services`."""

from workflows.models_definitions import WorkflowDefinition
from workflows.models_instances import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceStatus,
    JournalEntry,
    WorkflowInstance,
)
from workflows.models_tenancy import Membership, Role, Tenant

__all__ = [
    "ActivityExecution",
    "Bookmark",
    "Incident",
    "InstanceStatus",
    "JournalEntry",
    "Membership",
    "Role",
    "Tenant",
    "WorkflowDefinition",
    "WorkflowInstance",
]
