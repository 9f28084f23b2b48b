"""Structured JSON logging shared by structlog and the standard library.

Every line carries the context bound for the current request or step (request_id, tenant, user,
definition_id, instance_id, step_id, correlation_id) and never a secret: values of keys that look
like passwords, tokens or keys are masked wherever they appear, nested or not.
"""

import logging
import logging.config
import re
from typing import Any

import structlog

from runtime.engine.secrets import mask_active_secrets_processor

SECRET_KEY_PATTERN = re.compile(
    r"(pass(word)?|passwd|secret|token|api[_-]?key|authorization|credential|private[_-]?key|"
    r"cookie|session)",
    re.IGNORECASE,
)
MASK = "***"


def mask_secrets(value: Any, _depth: int = 0) -> Any:
    """Return `value` with every secret-looking key's value replaced by a mask."""
    if _depth > 8:
        return value
    if isinstance(value, dict):
        return {
            key: MASK
            if isinstance(key, str) and SECRET_KEY_PATTERN.search(key)
            else mask_secrets(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item, _depth + 1) for item in value]
    return value


def _mask_processor(_logger: Any, _method: str, event_dict: dict) -> dict:
    return mask_secrets(event_dict)


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
