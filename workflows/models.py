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
from workflows.models_operations import DeadLetter, WorkerProcess, WorkerState
from workflows.models_secrets import Secret
from workflows.models_steps import Step, StepKind, StepStatus
from workflows.models_tenancy import Membership, Role, Tenant
from workflows.models_tokens import UserTokenVersion
from workflows.models_triggers import (
    ApiToken,
    RetainedEvent,
    TriggerFire,
    TriggerType,
    WorkflowTrigger,
)

__all__ = [
    "ActivityExecution",
    "ApiToken",
    "Bookmark",
    "DeadLetter",
    "Incident",
    "InstanceStatus",
    "JournalEntry",
    "Membership",
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
