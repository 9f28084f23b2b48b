"""Waiting for time: Delay, Timer, Cron, StartAt. Each creates a bookmark with `due_at`;
the adapter's sweeper resumes it when due. Output: the time it fired (ISO-8601)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runtime.engine.activity import Activity, PropertySpec
from runtime.engine.propcheck import parse_datetime
from runtime.engine.values import parse_duration


class _TimeWait(Activity):
    family = "timing"
    kind = "blocking"

    def wait_until(self, ctx, due: datetime) -> None:
        if due <= ctx.now:
            ctx.complete(ctx.now.isoformat())
        else:
            ctx.bookmark(kind="timer", name=self.type_name, due_at=due)

    def resume(self, ctx, payload) -> None:
        fired = payload.get("fired_at") if isinstance(payload, dict) else None
        ctx.complete(fired or ctx.now.isoformat())

    def duration(self, ctx, value):
        try:
            return parse_duration(value)
        except ValueError as exc:
            ctx.fail(str(exc))

    def moment(self, ctx, value) -> datetime:
        try:
            return parse_datetime(value)
        except (ValueError, TypeError) as exc:
            ctx.fail(f"invalid date-time {value!r}: {exc}")


class Delay(_TimeWait):
    type_name = "Delay"
    description = "Waits `duration` (seconds or ISO-8601 like PT5M) or `until` a date-time."
    properties = (
        PropertySpec("duration", "duration"),
        PropertySpec("until", "datetime"),
    )

    def prepare(self, raw, node_path, cx):
        given = [k for k in ("duration", "until") if raw.get(k) is not None]
        if len(given) != 1:
            cx.problem(node_path, "Delay needs exactly one of duration or until")

    def execute(self, ctx) -> None:
        if ctx.props.get("until") is not None:
            self.wait_until(ctx, self.moment(ctx, ctx.props["until"]))
        else:
            self.wait_until(ctx, ctx.now + self.duration(ctx, ctx.props["duration"]))


class Timer(_TimeWait):
    type_name = "Timer"
    can_trigger = True
    description = "Waits `interval` once; as a trigger, starts the workflow every interval."
    properties = (PropertySpec("interval", "duration", required=True),)

    def execute(self, ctx) -> None:
        interval = self.duration(ctx, ctx.props["interval"])
        if not interval:
            ctx.fail("interval must be greater than 0")
        self.wait_until(ctx, ctx.now + interval)

    def trigger_properties(self, node) -> dict:
        out = dict(node.literals)
        out["interval_seconds"] = parse_duration(out["interval"]).total_seconds()
        return out


class Cron(_TimeWait):
    type_name = "Cron"
    can_trigger = True
    description = "Waits for the next time a cron schedule fires, in `timezone` (default UTC)."
    properties = (
        PropertySpec("cron", "cron", required=True, description="five-field cron expression"),
        PropertySpec("timezone", "timezone", default="UTC"),
    )

    def execute(self, ctx) -> None:
        self.wait_until(ctx, next_fire(ctx.props["cron"], ctx.props["timezone"], ctx.now,
                                       fail=ctx.fail))


def next_fire(expression: str, timezone: str | None, after: datetime, *, fail=None) -> datetime:
    """The first time strictly after `after` that `expression` fires, in `timezone`."""
    from croniter import croniter

    try:
        zone = ZoneInfo(timezone or "UTC")
        return croniter(expression, after.astimezone(zone)).get_next(datetime)
    except (ZoneInfoNotFoundError, ValueError, KeyError, TypeError) as exc:
        if fail is None:
            raise
        fail(f"cannot schedule cron {expression!r} in {timezone!r}: {exc}")


class StartAt(_TimeWait):
    type_name = "StartAt"
    can_trigger = True
    description = "Waits until the date-time `at` (at once when it is past)."
    properties = (PropertySpec("at", "datetime", required=True),)

    def execute(self, ctx) -> None:
        self.wait_until(ctx, self.moment(ctx, ctx.props["at"]))
