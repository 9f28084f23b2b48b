"""Operator actions on one instance's admin page: a confirmation page per action, a role
check, and a call to the same service the API calls (with the admin user as the actor)."""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms

from workflows.auditing import AuditNote, audited, event_summary
from workflows.models import Bookmark, InstanceStatus, WorkflowInstance
from workflows.services import bookmarks as bookmark_services
from workflows.services import events as event_services
from workflows.services import instance_actions as instance_services
from workflows.services.audit import AuditActor


class ResumeBookmarkForm(forms.Form):
    bookmark = forms.ChoiceField(help_text="The wait to resume.")
    payload = forms.JSONField(required=False, initial=None,
                              widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
                              help_text="JSON the activity receives as its result "
                                        "(empty: null).")

    def __init__(self, *args, instance: WorkflowInstance, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bookmark"].choices = [
            (str(b.id), f"{b.activity_id}: {b.name}"
                        + (f" (correlation id {b.correlation_id})" if b.correlation_id else ""))
            for b in Bookmark.objects.filter(instance=instance).order_by("created_at")
        ]


class PublishEventForm(forms.Form):
    name = forms.CharField(max_length=300, help_text="The event name.")
    payload = forms.JSONField(required=False, initial=None,
                              widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
                              help_text="JSON payload (empty: null).")

    def __init__(self, *args, instance: WorkflowInstance, **kwargs):
        super().__init__(*args, **kwargs)
        waiting = list(Bookmark.objects.filter(instance=instance, data__kind="event")
                       .values_list("name", flat=True)[:1])
        if waiting:
            self.fields["name"].initial = waiting[0]


@dataclass(frozen=True)
class InstanceAction:
    name: str
    label: str
    explanation: str
    available: Callable[[WorkflowInstance, bool], bool]
    form_class: type[forms.Form] | None = None
    dangerous: bool = False


def _active(instance: WorkflowInstance, _waits: bool) -> bool:
    return instance.status in InstanceStatus.active()


ACTIONS = {action.name: action for action in (
    InstanceAction(
        "resume-bookmark", "Resume a wait",
        "Resumes one of the waits below with a JSON payload, as if its stimulus arrived "
        "(the activity receives the payload as its result). Workers run the rest.",
        lambda i, waits: waits and i.status in InstanceStatus.active(), ResumeBookmarkForm),
    InstanceAction(
        "publish-event", "Publish an event",
        "Publishes an event with this instance's correlation id: it resumes every wait for "
        "that event name and correlation id in the tenant (not only this instance's) and "
        "starts definitions triggered by it.", _active, PublishEventForm),
    InstanceAction(
        "suspend", "Suspend",
        "Holds the instance: no new step of it runs until it is resumed. A step already "
        "running finishes.", lambda i, _w: _active(i, _w) and not i.held),
    InstanceAction(
        "resume", "Resume",
        "Releases the hold; the steps that waited are published to the workers again.",
        lambda i, _w: i.held),
    InstanceAction(
        "retry", "Retry",
        "Runs the faulted instance again from the activity that faulted, on the workers.",
        lambda i, _w: i.status == InstanceStatus.FAULTED),
    InstanceAction(
        "cancel", "Cancel",
        "Cancels the instance for good: pending steps and waits are dropped and its child "
        "instances are cancelled too. This cannot be undone.", _active, dangerous=True),
    InstanceAction(
        "delete", "Delete",
        "Deletes the instance with its journal and records. This cannot be undone.",
        lambda i, _w: i.status not in InstanceStatus.active(), dangerous=True),
)}


def run_action(action: InstanceAction, *, instance: WorkflowInstance, actor: str,
               data: dict, audit_actor: AuditActor) -> str:
    """Calls the service and records the audit entry with it; returns the success message
    (WeftError propagates)."""
    tenant = instance.tenant
    if action.name == "resume-bookmark":
        target = ("bookmark.resume", "bookmark", str(data["bookmark"]))
    elif action.name == "publish-event":
        target = ("event.publish", "event", data["name"])
    else:
        target = (f"instance.{action.name}", "instance", str(instance.id))
    with audited(audit_actor, action=target[0], tenant=tenant, target_type=target[1],
                 target_id=target[2], summary=f"{action.label} (instance {instance.id})") as note:
        return _run(action, instance=instance, actor=actor, data=data, note=note)


def _run(action: InstanceAction, *, instance: WorkflowInstance, actor: str, data: dict,
         note: AuditNote) -> str:
    tenant = instance.tenant
    short = str(instance.id)[:8]
    if action.name == "resume-bookmark":
        bookmark_services.bookmark_resume(tenant=tenant, bookmark_id=data["bookmark"],
                                       payload=data.get("payload"), actor=actor)
        return f"Instance {short}: the wait was resumed; workers run the rest."
    if action.name == "publish-event":
        result = event_services.event_publish(tenant=tenant, name=data["name"],
                                              payload=data.get("payload"),
                                              correlation_id=instance.correlation_id)
        note.summary = event_summary(result)
        if result.get("reason"):
            return f"Event '{data['name']}' published. {result['reason']['message']}"
        return (f"Event '{data['name']}' published: {len(result['resumed'])} wait(s) "
                f"resumed, {len(result['started'])} instance(s) started.")
    service = {
        "suspend": instance_services.instance_hold,
        "resume": instance_services.instance_release,
        "retry": instance_services.instance_retry,
        "cancel": instance_services.instance_cancel,
        "delete": instance_services.instance_delete,
    }[action.name]
    service(tenant=tenant, instance_id=instance.id, actor=actor)
    past = {"suspend": "suspended", "resume": "resumed", "retry": "retried",
            "cancel": "cancelled", "delete": "deleted"}[action.name]
    return f"Instance {short} {past}."
