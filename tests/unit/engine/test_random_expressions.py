"""Property: whatever expression a definition holds, the engine either rejects the definition
with problems, or runs it to an end (finished, or faulted with an incident that names the
activity and the expression): it never raises, never hangs, never leaks an object."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.engine import advance, compile_definition, start_state, validate_definition
from tests.unit.engine.helpers import NOW, definition, fresh_registry

NAMES = ["input", "variables", "outputs", "result", "item", "index", "now", "payload",
         "correlation_id", "instance_id", "__builtins__", "__import__", "open", "eval",
         "type", "object", "getattr", "x"]
ATTRS = ["a", "b", "items", "keys", "upper", "format", "__class__", "__mro__", "__globals__",
         "__subclasses__", "gi_frame", "f_globals", "_private", "mro", "__dict__"]
LITERALS = ["0", "1", "-1", "10**9", "2**64", "'a'", "'a'*10**8", "[]", "{}", "None", "True",
            "[0]*10**8", "1.5", "'{0.__class__}'"]


@st.composite
def expressions(draw, depth: int = 0) -> str:
    if depth > 3:
        return draw(st.sampled_from(LITERALS + NAMES))
    choice = draw(st.integers(0, 7))
    inner = expressions(depth + 1)
    if choice == 0:
        return draw(st.sampled_from(LITERALS + NAMES))
    if choice == 1:
        return f"{draw(inner)}.{draw(st.sampled_from(ATTRS))}"
    if choice == 2:
        return f"{draw(inner)}[{draw(inner)}]"
    if choice == 3:
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or"]))
        return f"({draw(inner)} {op} {draw(inner)})"
    if choice == 4:
        return f"{draw(inner)}({draw(inner)})"
    if choice == 5:
        return f"[{draw(inner)} for item in {draw(inner)}]"
    if choice == 6:
        return f"({draw(inner)} if {draw(inner)} else {draw(inner)})"
    return draw(st.text(max_size=30))


REGISTRY = fresh_registry()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions())
def test_random_expressions_never_crash_the_engine(source):
    body = definition({
        "type": "Sequence", "id": "main", "activities": [
            {"id": "compute", "type": "SetVariable", "variable": "v", "value": {"expr": source}},
            {"id": "show", "type": "WriteLine", "text": {"template": "{{ variables.v }}"}},
        ]}, variables=[{"name": "v", "type": "any"}], inputs=[{"name": "a", "type": "any"}])
    problems = validate_definition(body, REGISTRY)
    if problems:
        assert all(p.path and p.message for p in problems)
        return
    plan = compile_definition(body, REGISTRY)
    state = start_state(plan, instance_id="i-1", input={"a": {"b": [1, 2]}},
                        correlation_id=None, now=NOW)
    result = advance(plan, state, now=NOW, max_steps=100)
    assert result.status in ("finished", "faulted")
    json.dumps(state)  # the state stays plain JSON: nothing escaped into it
    if result.status == "faulted":
        [incident] = result.incidents
        assert incident["activity_id"] in ("compute", "show")
        if incident["activity_id"] == "compute":
            assert incident["expression"] == source
