"""The pure workflow engine: definitions, activities, and the step executor.

Imports neither Django nor Celery; never reads the clock or the network (see docs/engine.md).
"""

from runtime.engine.activity import (
    Activity,
    ActivityRegistry,
    PropertySpec,
    RegistryError,
)
from runtime.engine.api import (
    advance,
    cancel,
    complete_task,
    fail_task,
    fault,
    resume_bookmark,
    retry,
    secret_names,
    start_state,
    validate_input,
)
from runtime.engine.compiler import compile_definition, validate_definition
from runtime.engine.context import ActivityContext, ActivityError
from runtime.engine.errors import (
    DefinitionInvalid,
    EngineError,
    InvalidTransition,
    NonRetryableError,
    Problem,
    TaskFailure,
)
from runtime.engine.plan import Declaration, Node, Trigger, WorkflowPlan
from runtime.engine.results import TERMINAL, EngineResult
from runtime.engine.task_requests import (
    DEFAULT_RETRY_POLICY,
    TaskContext,
    TaskRequest,
    execute_task,
    retry_delay,
    should_retry,
)
from runtime.engine.user import FunctionActivity, activity

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "TERMINAL",
    "Activity",
    "ActivityContext",
    "ActivityError",
    "ActivityRegistry",
    "Declaration",
    "DefinitionInvalid",
    "EngineError",
    "EngineResult",
    "FunctionActivity",
    "InvalidTransition",
    "Node",
    "NonRetryableError",
    "Problem",
    "PropertySpec",
    "RegistryError",
    "TaskContext",
    "TaskFailure",
    "TaskRequest",
    "Trigger",
    "WorkflowPlan",
    "activity",
    "advance",
    "cancel",
    "compile_definition",
    "complete_task",
    "execute_task",
    "fail_task",
    "fault",
    "resume_bookmark",
    "retry",
    "retry_delay",
    "secret_names",
    "should_retry",
    "start_state",
    "validate_definition",
    "validate_input",
]
