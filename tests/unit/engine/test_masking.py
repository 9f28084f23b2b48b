"""Which keys and text count as secrets, and what a masked copy looks like."""

import pytest

from runtime.engine.masking import MASK, is_secret_key, mask_secrets, mask_text


@pytest.mark.parametrize("name", [
    "Authorization", "authorization", "Proxy-Authorization", "X-Api-Key", "x-api-key",
    "api_key", "apiKey", "APIKEY", "Cookie", "Set-Cookie", "X-Hub-Signature",
    "X-Hub-Signature-256", "password", "Password", "db_password", "pwd", "passwd", "token",
    "access_token", "refreshToken", "csrftoken", "secret", "client_secret", "auth",
    "auth_header", "oauth", "bearer", "signature", "dsn", "SENTRY_DSN", "credentials",
    "private_key", "session_id", "sessionid",
])
def test_well_known_secret_names(name):
    assert is_secret_key(name)


@pytest.mark.parametrize("name", [
    "author", "authorize", "key", "keyword", "monkey", "tokens", "session", "kind", "path",
    "payload", "name", "value", "amount", "passage", "signed",
])
def test_ordinary_names_are_not_secret(name):
    assert not is_secret_key(name)


def test_masked_copy_covers_keys_pairs_objects_urls_and_marked_names():
    value = {
        "headers": {"Authorization": "Bearer abcdef", "Accept": "json"},
        "pairs": [["X-Api-Key", "k-123"], ["Accept", "json"]],
        "objects": [{"name": "Cookie", "value": "sid=1"}, {"name": "Accept", "value": "x"}],
        "set": {"variable": "api_token", "value": "t-1"},
        "url": "https://bob:hunter2@db.example/x?token=abc&page=2",
        "note": "retry with Authorization: Bearer abcdef123",
        "card_number": "4111111111111111",
        "empty_password": "",
        "n": 3,
    }
    masked = mask_secrets(value, {"card_number"})
    assert masked == {
        "headers": {"Authorization": MASK, "Accept": "json"},
        "pairs": [["X-Api-Key", MASK], ["Accept", "json"]],
        "objects": [{"name": "Cookie", "value": MASK}, {"name": "Accept", "value": "x"}],
        "set": {"variable": "api_token", "value": MASK},
        "url": f"https://bob:{MASK}@db.example/x?token={MASK}&page=2",
        "note": f"retry with Authorization: Bearer {MASK}",
        "card_number": MASK,
        "empty_password": "",
        "n": 3,
    }
    assert value["headers"]["Authorization"] == "Bearer abcdef"  # the original is untouched


def test_a_document_can_list_its_own_secret_names():
    assert mask_secrets({"secret_names": ["pin"], "input": {"pin": "1234"}}) == {
        "secret_names": ["pin"], "input": {"pin": MASK}}


def test_text_without_credentials_is_returned_as_is():
    text = "order 42 shipped to https://shop.example/orders?id=42"
    assert mask_text(text) is text or mask_text(text) == text


def test_secret_activity_parameters_reach_the_task_and_are_masked_in_its_record():
    from runtime.engine import activity
    from tests.unit.engine.helpers import Driver, definition, fresh_registry

    registry = fresh_registry()

    @activity("test.pay", secret=["card_number"], registry=registry)
    def pay(*, card_number: str, amount: float) -> dict:
        return {"ok": True}

    root = {"id": "pay", "type": "test.pay",
            "input": {"card_number": {"expr": "input.card"}, "amount": 3}}
    body = definition(root, inputs=[{"name": "card", "type": "string", "secret": True}])
    driver = Driver(body, input={"card": "4111111111111111"}, registry=registry)
    result = driver.advance()
    (task,) = result.tasks
    assert task.input == {"card_number": "4111111111111111", "amount": 3}
    assert task.secret_names == ("card_number",)
    assert driver.state["secret_names"] == ["card", "card_number"]
    (record,) = [r for r in result.executions if r["activity_id"] == "pay"]
    assert record["input"] == {"input": {"card_number": MASK, "amount": 3}}
    finished = driver.complete(task.key, {"ok": True})
    (completed,) = [r for r in finished.executions if r["activity_id"] == "pay"]
    assert completed["input"] == {"input": {"card_number": MASK, "amount": 3}}


def test_secret_names_must_be_parameters_and_only_inputs_can_be_secret():
    from runtime.engine import RegistryError, activity, validate_definition
    from tests.unit.engine.helpers import definition, fresh_registry

    with pytest.raises(RegistryError, match="secret names no parameter: pin"):
        @activity("test.bad", secret=["pin"], registry=fresh_registry())
        def bad(*, card: str) -> None:
            return None

    root = {"id": "w", "type": "WriteLine", "text": "hi"}
    problems = validate_definition(definition(
        root, outputs=[{"name": "o", "type": "string", "secret": True}],
        inputs=[{"name": "i", "type": "string", "secret": "yes"}]), fresh_registry())
    assert {(p.path, p.message) for p in problems} >= {
        ("outputs[0].secret", "only inputs can be marked secret"),
        ("inputs[0].secret", "must be true or false")}
