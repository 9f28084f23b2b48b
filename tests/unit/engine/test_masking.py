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
