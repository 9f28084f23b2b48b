import logging

from config.logs import QuietHousekeeping


def _record(name: str, level: int, message: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_celery_info_about_housekeeping_tasks_is_dropped_unless_debug():
    quiet = QuietHousekeeping()
    root = logging.getLogger()
    previous = root.level
    try:
        root.setLevel(logging.INFO)
        assert not quiet.filter(_record("celery.beat", logging.INFO,
                                        "Scheduler: Sending due task %s (%s)",
                                        "weft-sweep-steps", "weft.sweep_steps"))
        assert not quiet.filter(_record("celery.app.trace", logging.INFO,
                                        "Task weft.fire_due_timers[1] succeeded in 0.01s"))
        # Anything else, other levels and other loggers pass.
        assert quiet.filter(_record("celery.app.trace", logging.INFO,
                                    "Task weft.run_step[1] succeeded in 0.01s"))
        assert quiet.filter(_record("celery.app.trace", logging.ERROR,
                                    "Task weft.sweep_steps[1] raised"))
        assert quiet.filter(_record("weft.request", logging.INFO, "weft.sweep_steps"))
        root.setLevel(logging.DEBUG)
        assert quiet.filter(_record("celery.beat", logging.INFO,
                                    "Sending due task weft.sweep_steps"))
    finally:
        root.setLevel(previous)
