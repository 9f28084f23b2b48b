import json
import logging

import structlog

from config.logs import MASK, mask_secrets


def test_secret_looking_keys_are_masked_at_any_depth():
    masked = mask_secrets({
        "password": "p", "user": "bob",
        "headers": {"Authorization": "Bearer x", "Accept": "json"},
        "items": [{"api_key": "k", "refresh_token": "t", "n": 1}],
        "client_secret": "s",
    })
    assert masked == {
        "password": MASK, "user": "bob",
        "headers": {"Authorization": MASK, "Accept": "json"},
        "items": [{"api_key": MASK, "refresh_token": MASK, "n": 1}],
        "client_secret": MASK,
    }


def test_log_lines_are_json_with_bound_context_and_masked_secrets(capsys):
    from config.logs import configure_logging

    configure_logging(level="INFO", fmt="json")
    structlog.contextvars.bind_contextvars(request_id="r-1", instance_id="i-9")
    try:
        structlog.get_logger("weft.test").info("charged", password="hunter2", amount=3)
        logging.getLogger("weft.stdlib").warning("plain %s", "line")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    charged = next(line for line in lines if line["event"] == "charged")
    assert charged["request_id"] == "r-1" and charged["instance_id"] == "i-9"
    assert charged["password"] == MASK and charged["amount"] == 3
    plain = next(line for line in lines if line["event"] == "plain line")
    assert plain["request_id"] == "r-1" and plain["level"] == "warning"
