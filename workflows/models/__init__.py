"""Weft's system of record. Models hold data only: writes go through `workflows.services`."""

from workflows.models.archives import InstanceArchive
from workflows.models.audit import AuditEntry
from workflows.models.definitions import WorkflowDefinition
from workflows.models.instances import (
    ActivityExecution,
    Bookmark,
    Incident,
    InstanceStatus,
    JournalEntry,
    WorkflowInstance,
)
from workflows.models.operations import DeadLetter, WorkerProcess, WorkerState
from workflows.models.payloads import PayloadLink, PayloadObject
from workflows.models.secrets import Secret
from workflows.models.steps import Step, StepKind, StepStatus
from workflows.models.tenancy import Membership, Role, Tenant
from workflows.models.tokens import UserTokenVersion
from workflows.models.triggers import (
    ApiToken,
    RetainedEvent,
    TriggerFire,
    TriggerType,
    WorkflowTrigger,
)

__all__ = [
    "ActivityExecution",
    "ApiToken",
    "AuditEntry",
    "Bookmark",
    "DeadLetter",
    "Incident",
    "InstanceArchive",
    "InstanceStatus",
    "JournalEntry",
    "Membership",
    "PayloadLink",
    "PayloadObject",
    "RetainedEvent",
    "Role",
    "Secret",
    "Step",
    "StepKind",
    "StepStatus",
    "Tenant",
    "TriggerFire",
    "TriggerType",
    "UserTokenVersion",
    "WorkerProcess",
    "WorkerState",
    "WorkflowDefinition",
    "WorkflowInstance",
    "WorkflowTrigger",
]
