"""The journal line that says which operator did what to an instance.

Operator actions (suspend, resume, cancel, retry, bookmark resume, re-drive) call this with
the instance row locked: the line takes the next number of the instance's journal sequence,
which lives in the engine state, so the caller saves `state` in the same transaction.
"""

from django.utils import timezone

from workflows.models import JournalEntry, WorkflowInstance

OPERATOR_EVENT = "operator"


def actor_label(actor: str | None) -> str:
    return actor or "system"


def journal_operator_action(instance: WorkflowInstance, *, action: str, actor: str | None,
                            data: dict | None = None) -> JournalEntry:
    """Append `<action> by <actor>` to the journal; the caller saves `instance.state`."""
    state = instance.state
    state["journal_seq"] = state.get("journal_seq", 0) + 1
    who = actor_label(actor)
    return JournalEntry.objects.create(
        instance=instance, instance_created_at=instance.created_at,
        sequence=state["journal_seq"], event=OPERATOR_EVENT,
        message=f"{action} by {who}", data={"action": action, "actor": who, **(data or {})},
        timestamp=timezone.now(),
    )
