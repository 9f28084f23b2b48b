"""Child workflows."""

from __future__ import annotations

from runtime.engine.activity import Activity, PropertySpec


class ExecuteWorkflow(Activity):
    type_name = "ExecuteWorkflow"
    family = "children"
    kind = "blocking"
    description = (
        "Starts a published workflow as a child (effect start_child). With wait: true, waits "
        "(bookmark kind child) and its output is the child's outputs. A child that is "
        "cancelled, faults or is deleted fails the wait: a child_failed incident (an operator "
        "retry starts the child again), or with child_failure: outcome the failed outcome."
    )
    outcomes = ("done", "failed")
    properties = (
        PropertySpec("definition_id", "string", required=True),
        PropertySpec("input", "object", per_key=True, default={}),
        PropertySpec("wait", "boolean", dynamic=False, default=False),
        PropertySpec("correlation_id", "string", description="default: this instance's"),
        PropertySpec("child_failure", "string", dynamic=False, default="fault",
                     choices=("fault", "outcome"),
                     description="when a waited-for child is cancelled, faults or is deleted: "
                                 "fault (a child_failed incident) or outcome (the failed "
                                 "outcome, output {error})"),
    )

    def execute(self, ctx) -> None:
        props = ctx.props
        definition_id = props["definition_id"]
        if not isinstance(definition_id, str) or not definition_id:
            ctx.fail(f"definition_id must be a non-empty string, got {definition_id!r}")
        child_input = props["input"] if props["input"] is not None else {}
        if not isinstance(child_input, dict):
            ctx.fail("input must evaluate to an object")
        key = None
        if props["wait"]:
            key = ctx.bookmark(kind="child", name=definition_id,
                               data={"definition_id": definition_id})
        ctx.effect(
            "start_child",
            definition_id=definition_id,
            input=child_input,
            correlation_id=props["correlation_id"] or ctx.state["correlation_id"],
            parent_instance_id=ctx.state["instance_id"],
            bookmark_key=key,
            wait=bool(props["wait"]),
        )
        if key is None:
            ctx.complete(None)

    def task_failed(self, ctx, error: str) -> None:
        if (ctx.props or {}).get("child_failure") == "outcome":
            ctx.complete({"error": error}, ("failed",))
            return
        ctx.fail(error, code="child_failed")
