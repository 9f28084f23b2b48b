"""Celery tasks: thin adapters that call one service each."""

from celery import shared_task

from workflows.services.steps import PoisonStep, step_run, steps_sweep


@shared_task(name="weft.run_step", acks_late=True, ignore_result=True)
def run_step(step_id: str) -> str:
    return step_run(step_id=step_id, worker=run_step.request.hostname or "worker")


@shared_task(name="weft.run_steps", acks_late=True, ignore_result=True)
def run_steps(step_ids: list[str]) -> list[str]:
    worker = run_steps.request.hostname or "worker"
    outcomes, poison = [], None
    for step_id in step_ids:
        try:
            outcomes.append(step_run(step_id=step_id, worker=worker))
        except PoisonStep as exc:  # the others still run; the message then stays unacked
            poison = exc
    if poison is not None:
        raise poison
    return outcomes


@shared_task(name="weft.sweep_steps", ignore_result=True)
def sweep_steps() -> dict:
    return steps_sweep()


@shared_task(name="weft.collect_dead_letters", ignore_result=True)
def collect_dead_letters() -> int:
    from workflows.services.dead_letters import dead_letters_collect

    return dead_letters_collect()


@shared_task(name="weft.mark_lost_workers", ignore_result=True)
def mark_lost_workers() -> int:
    from workflows.services.workers import workers_mark_lost

    return workers_mark_lost()


@shared_task(name="weft.fire_trigger", ignore_result=True)
def fire_trigger(trigger_id: int) -> str:
    from workflows.services.triggers import trigger_fire

    return trigger_fire(trigger_id=trigger_id)


@shared_task(name="weft.fire_due_timers", ignore_result=True)
def fire_due_timers() -> int:
    from workflows.services.timers import timers_fire_due

    return timers_fire_due()
