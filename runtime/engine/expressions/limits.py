"""Bounds shared by expressions and templates, and the per-evaluation budget.

Every limit here is deterministic (a count or a size) except the time budget, which is a
CPU guard inside the evaluator: it never decides workflow behaviour, it only stops a
runaway evaluation, so reading ``perf_counter`` here does not break engine determinism.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import perf_counter

MAX_EXPR_LENGTH = 2_000
MAX_TEMPLATE_LENGTH = 10_000
MAX_AST_NODES = 1_000
MAX_AST_DEPTH = 60
MAX_STRING_LENGTH = 100_000
MAX_COLLECTION_LENGTH = 10_000
MAX_INT_BITS = 10_000
# "Weight" approximates the serialised size of a value (one unit per element or character);
# it bounds results built by aliasing, such as nesting one list in another many times.
MAX_RESULT_WEIGHT = 250_000
MAX_LOOP_ITERATIONS = 100_000
TIME_BUDGET_SECONDS = 0.05
# How many loop iterations pass between two clock reads.
_CLOCK_EVERY = 16


class LimitExceeded(Exception):
    """A bound was hit; converted to ExpressionEvaluationError at the public boundary."""


class Budget:
    """Loop iterations and CPU time left for one evaluation."""

    __slots__ = ("deadline", "remaining")

    def __init__(self) -> None:
        self.remaining = MAX_LOOP_ITERATIONS
        self.deadline = perf_counter() + TIME_BUDGET_SECONDS

    def tick(self) -> None:
        self.remaining -= 1
        if self.remaining % _CLOCK_EVERY == 0:
            if self.remaining < 0:
                raise LimitExceeded(f"more than {MAX_LOOP_ITERATIONS} loop iterations")
            self.check_clock()

    def check_clock(self) -> None:
        if perf_counter() > self.deadline:
            raise LimitExceeded(
                f"evaluation exceeded its time budget of {TIME_BUDGET_SECONDS * 1000:g} ms"
            )


# Set while an evaluation that can loop or walk large values runs, so that loop guards, size
# walks and calls deep inside Jinja's generated code find the budget of the evaluation running
# them (thread- and task-safe). Cheap expressions never set it: that keeps the hot path fast.
CURRENT_BUDGET: ContextVar[Budget | None] = ContextVar("weft_expression_budget", default=None)


def check_clock() -> None:
    budget = CURRENT_BUDGET.get()
    if budget is not None:
        budget.check_clock()


def tick_current() -> None:
    budget = CURRENT_BUDGET.get()
    if budget is None:
        raise LimitExceeded("evaluation budget missing")
    budget.tick()
