"""Bounds shared by expressions and templates, and the per-evaluation budget.

Every limit here is deterministic (a count or a size) except the time budget, which is a
CPU guard inside the evaluator: it never decides workflow behaviour, it only stops a
runaway evaluation, so reading the clock here does not break engine determinism. The clock is
the thread's own CPU time (``thread_time``), not wall time: a worker or web process running
many threads shares one GIL, and a wall-clock budget would fail cheap evaluations that merely
waited for their turn.
"""

from __future__ import annotations

from contextvars import ContextVar
from time import thread_time

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
# Weight of all the values one evaluation builds, added up as they are built (comprehension
# elements, filter results, concatenations, template output including `{% set %}` blocks).
# Intermediate values are rarely kept alive all at once, but counting them all is what bounds
# memory *before* a pipeline such as `range(10000)|map('center', 100000)|list` gets to
# allocate a gigabyte: it fails after about 25 of those strings.
MAX_ALLOCATED_WEIGHT = 10 * MAX_RESULT_WEIGHT
# CPU seconds per evaluation. It must sit well above a garbage-collection pause, which runs in
# whichever thread allocates when the collector triggers: a full collection in a process with
# a large heap (the test suite's) was measured at 83 ms of one evaluation's CPU time.
TIME_BUDGET_SECONDS = 0.25
# How many loop iterations pass between two clock reads.
_CLOCK_EVERY = 16


class LimitExceeded(Exception):
    """A bound was hit; converted to ExpressionEvaluationError at the public boundary."""


class Budget:
    """Loop iterations and CPU time left for one evaluation."""

    __slots__ = ("allocation_left", "deadline", "remaining")

    def __init__(self) -> None:
        self.remaining = MAX_LOOP_ITERATIONS
        self.allocation_left = MAX_ALLOCATED_WEIGHT
        self.deadline = thread_time() + TIME_BUDGET_SECONDS

    def tick(self) -> None:
        self.remaining -= 1
        if self.remaining % _CLOCK_EVERY == 0:
            if self.remaining < 0:
                raise LimitExceeded(f"more than {MAX_LOOP_ITERATIONS} loop iterations")
            self.check_clock()

    def charge(self, units: int) -> None:
        """Count ``units`` of weight this evaluation has just built."""
        self.allocation_left -= units
        if self.allocation_left < 0:
            raise LimitExceeded(
                f"evaluation built more than {MAX_ALLOCATED_WEIGHT} units of data "
                "(characters and collection elements) in total"
            )

    def check_clock(self) -> None:
        if thread_time() > self.deadline:
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


def charge_current(units: int) -> None:
    budget = CURRENT_BUDGET.get()
    if budget is not None:
        budget.charge(units)
