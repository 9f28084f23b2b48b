"""Variables, outputs, logging, correlation, and ending the workflow."""

from __future__ import annotations

from runtime.engine.activity import Activity, PropertySpec
from runtime.engine.masking import MASK, is_secret_key

LEVELS = ("debug", "info", "warning", "error")


def _declared(cx, raw, node_path: str, prop: str, declared: dict, what: str) -> None:
    name = raw.get(prop)
    if isinstance(name, str) and name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        cx.problem(f"{node_path}.{prop}", f"undeclared {what} {name!r}; declared: {known}")


class SetVariable(Activity):
    type_name = "SetVariable"
    family = "primitives"
    description = "Sets a declared variable; output: the value."
    properties = (
        PropertySpec("variable", "string", required=True, dynamic=False),
        PropertySpec("value", "any", description="the new value"),
    )

    def prepare(self, raw, node_path, cx):
        _declared(cx, raw, node_path, "variable", cx.variables, "variable")

    def execute(self, ctx) -> None:
        props = ctx.props
        value = props["value"]
        ctx.call.state["variables"][props["variable"]] = value
        # A secret kept under a secret name is read by that name; `result` never copies it.
        ctx.complete(MASK if is_secret_key(props["variable"]) else value)


class SetOutput(Activity):
    type_name = "SetOutput"
    family = "primitives"
    description = "Sets a declared workflow output; output: the value."
    properties = (
        PropertySpec("output", "string", required=True, dynamic=False),
        PropertySpec("value", "any"),
    )

    def prepare(self, raw, node_path, cx):
        _declared(cx, raw, node_path, "output", cx.outputs, "output")

    def execute(self, ctx) -> None:
        ctx.set_output(ctx.props["output"], ctx.props["value"])
        ctx.complete(MASK if is_secret_key(ctx.props["output"]) else ctx.props["value"])


class WriteLine(Activity):
    type_name = "WriteLine"
    family = "primitives"
    description = "Writes a line to the instance journal (event 'log'); output: the text."
    properties = (
        PropertySpec("text", "any", required=True),
        PropertySpec("level", "string", default="info", choices=LEVELS),
    )

    def execute(self, ctx) -> None:
        text = ctx.props["text"]
        text = "" if text is None else str(text)
        level = ctx.props["level"] or "info"
        if level not in LEVELS:
            ctx.fail(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        ctx.log(text, level)
        ctx.complete(text)


class Correlate(Activity):
    type_name = "Correlate"
    family = "primitives"
    description = "Sets the instance's correlation id (events are matched on it)."
    properties = (PropertySpec("correlation_id", "string", required=True),)

    def execute(self, ctx) -> None:
        value = ctx.props["correlation_id"]
        if value is None or value == "":
            ctx.fail("correlation_id evaluated to nothing")
        ctx.set_correlation_id(str(value))
        ctx.complete(str(value))


class Finish(Activity):
    type_name = "Finish"
    family = "primitives"
    description = "Ends the workflow as finished, cancelling whatever else is still running."

    def execute(self, ctx) -> None:
        ctx.finish_workflow()


class Fault(Activity):
    type_name = "Fault"
    family = "primitives"
    description = "Records an incident and faults the workflow (whatever the incident strategy)."
    properties = (
        PropertySpec("message", "string", required=True),
        PropertySpec("code", "string"),
    )

    def execute(self, ctx) -> None:
        message = ctx.props["message"]
        ctx.fault_workflow("" if message is None else str(message), ctx.props["code"])
