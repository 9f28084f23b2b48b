"""Named events: waiting for one (Event) and publishing one (PublishEvent)."""

from __future__ import annotations

from runtime.engine.activity import Activity, PropertySpec


class Event(Activity):
    type_name = "Event"
    family = "events"
    kind = "blocking"
    can_trigger = True
    description = (
        "Waits for the named event with the instance's correlation id (as a trigger: starts "
        "the workflow). Output: the event's payload."
    )
    properties = (PropertySpec("event", "string", required=True, description="event name"),)

    def execute(self, ctx) -> None:
        name = ctx.props["event"]
        if not isinstance(name, str) or not name:
            ctx.fail(f"event must be a non-empty string, got {name!r}")
        ctx.bookmark(kind="event", name=name, data={"event": name})


class PublishEvent(Activity):
    type_name = "PublishEvent"
    family = "events"
    description = "Publishes a named event (effect publish_event), as POST events/{name}/ does."
    properties = (
        PropertySpec("event", "string", required=True),
        PropertySpec("payload", "any"),
        PropertySpec("correlation_id", "string", description="default: none (any instance)"),
    )

    def execute(self, ctx) -> None:
        props = ctx.props
        if not isinstance(props["event"], str) or not props["event"]:
            ctx.fail(f"event must be a non-empty string, got {props['event']!r}")
        ctx.effect("publish_event", event=props["event"], payload=props["payload"],
                   correlation_id=props["correlation_id"])
        ctx.complete(None)
