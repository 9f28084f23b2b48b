"""Structured JSON logging shared by structlog and the standard library.

Every line carries the context bound for the current request or step (request_id, tenant, user,
definition_id, instance_id, step_id, correlation_id) and never a secret: values of keys that look
like passwords, tokens or keys are masked wherever they appear, nested or not.
"""

import logging
import logging.config
from typing import Any

import structlog

# One masking rule for logs, storage and display (keys such as password, pwd, token, auth,
# bearer, signature, dsn, api_key, cookie; header pairs in lists; credentials in URLs).
from runtime.engine.masking import MASK, mask_secrets  # noqa: F401  (MASK: for importers)


def _mask_processor(_logger: Any, _method: str, event_dict: dict) -> dict:
    return mask_secrets(event_dict)


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_processor,
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
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "structured"}
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.server": {"level": "INFO"},
                "django.db.backends": {"level": "INFO"},
            },
        }
    )
