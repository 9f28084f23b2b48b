"""Structured JSON logging shared by structlog and the standard library.

Every line carries the context bound for the current request or step (request_id, tenant, user,
definition_id, instance_id, step_id, correlation_id) and never a secret: values of keys that look
like passwords, tokens or keys are masked wherever they appear, nested or not.
"""

import logging
import logging.config
from typing import Any

import structlog
from opentelemetry import trace

# One masking rule for logs, storage and display (keys such as password, pwd, token, auth,
# bearer, signature, dsn, api_key, cookie; header pairs in lists; credentials in URLs).
from runtime.engine.masking import MASK, mask_secrets  # noqa: F401  (MASK: for importers)
from runtime.engine.secrets import mask_active_secrets_processor

# Beat sends these every second or ten; at INFO, Celery's lines about them ("Sending due
# task", "received", "succeeded") would drown everything else. Shown at DEBUG.
HOUSEKEEPING_TASKS = ("weft.sweep_steps", "weft.fire_due_timers", "weft.collect_dead_letters",
                      "weft.mark_lost_workers")


class QuietHousekeeping(logging.Filter):
    """Drops Celery's INFO lines about the housekeeping tasks unless the root logs DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith("celery"):
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(name in message for name in HOUSEKEEPING_TASKS)


def _trace_ids(_logger: Any, _method: str, event_dict: dict) -> dict:
    """The current span's trace and span ids (W3C hex), when there is one."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict


def _mask_processor(_logger: Any, _method: str, event_dict: dict) -> dict:
    return mask_secrets(event_dict)


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _trace_ids,
        _mask_processor,
        mask_active_secrets_processor,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "filters": {"quiet_housekeeping": {"()": QuietHousekeeping}},
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "structured",
                            "filters": ["quiet_housekeeping"]}
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                # The development server's own access line would repeat the one line per
                # request that api.middleware.RequestContextMiddleware writes (with status,
                # duration and request id); only its errors are kept.
                "django.server": {"level": "ERROR"},
                "django.db.backends": {"level": "INFO"},
            },
        }
    )
