"""Engine throughput: a 10,000-iteration While loop with a SetVariable body, journal on.

Run with `python -m bench.engine [--runs N] [--iterations N]`; prints the median activity
executions per second over the runs and the executions per run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from runtime.activities import default_registry
from runtime.engine import advance, compile_definition, start_state


def loop_definition(iterations: int) -> dict:
    return {
        "name": "bench while loop",
        "definition_id": "bench-while",
        "variables": [{"name": "i", "type": "integer", "default": 0}],
        "root": {
            "id": "loop",
            "type": "While",
            "condition": {"expr": f"variables.i < {iterations}"},
            "body": {"id": "inc", "type": "SetVariable", "variable": "i",
                     "value": {"expr": "variables.i + 1"}},
        },
    }


def one_run(plan, iterations: int) -> tuple[float, int, int]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = start_state(plan, instance_id="bench", input={}, correlation_id=None, now=now)
    started = time.perf_counter()
    result = advance(plan, state, now=now, max_steps=iterations * 2 + 10)
    elapsed = time.perf_counter() - started
    if result.status != "finished" or state["variables"]["i"] != iterations:
        raise SystemExit(f"benchmark workflow did not finish correctly: {result.status}")
    return elapsed, result.steps, len(result.journal)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=10_000)
    args = parser.parse_args(argv)
    plan = compile_definition(loop_definition(args.iterations), default_registry())
    warm = min(args.iterations, 500)
    # Warm imports and caches.
    one_run(compile_definition(loop_definition(warm), default_registry()), warm)
    rates, steps, entries = [], 0, 0
    for _ in range(args.runs):
        elapsed, steps, entries = one_run(plan, args.iterations)
        rates.append(steps / elapsed)
    print(f"runs: {args.runs}, iterations: {args.iterations}")
    print(f"activity executions per run: {steps} (journal entries: {entries})")
    print(f"median activity executions/s: {statistics.median(rates):,.0f}")
    print(f"min/max: {min(rates):,.0f} / {max(rates):,.0f}")


if __name__ == "__main__":
    main()
