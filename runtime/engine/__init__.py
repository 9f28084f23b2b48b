"""The pure workflow engine: definitions, activities, and the step executor.

Imports neither Django nor Celery; never reads the clock or the network (see docs/engine.md).
"""

from runtime.engine.activity import (
    Activity,
    ActivityRegistry,
    PropertySpec,
    RegistryError,
    default_registry,
)
from runtime.engine.api import (
    cancel,
    complete_task,
    fail_task,
    resume_bookmark,
    retry,
    run,
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
from runtime.engine.results import TERMINAL, RunResult
from runtime.engine.tasks import (
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
    "FunctionActivity",
    "InvalidTransition",
    "Node",
    "NonRetryableError",
    "Problem",
    "PropertySpec",
    "RegistryError",
    "RunResult",
    "TaskContext",
    "TaskFailure",
    "TaskRequest",
    "Trigger",
    "WorkflowPlan",
    "activity",
    "cancel",
    "compile_definition",
    "complete_task",
    "default_registry",
    "execute_task",
    "fail_task",
    "resume_bookmark",
    "retry",
    "retry_delay",
    "run",
    "secret_names",
    "should_retry",
    "start_state",
    "validate_definition",
    "validate_input",
]
