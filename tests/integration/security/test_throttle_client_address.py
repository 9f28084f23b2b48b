"""Rotating X-Forwarded-For does not make a new client: throttles count the socket address,
or, behind trusted proxies, the address the nearest trusted proxy saw."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from api.throttling import AnonymousThrottle
from tests.integration.execution.conftest import sequence

pytestmark = pytest.mark.django_db


def guess_password(client, forwarded_for: str, remote: str = "203.0.113.9") -> int:
    return client.post("/api/v1/auth/token/", {"username": "alice", "password": "guess"},
                       format="json", HTTP_X_FORWARDED_FOR=forwarded_for,
                       REMOTE_ADDR=remote).status_code


def call_hook(forwarded_for: str, remote: str = "203.0.113.9") -> int:
    return Client().post("/hooks/acme/ping", data=json.dumps({}),
                         content_type="application/json", HTTP_X_FORWARDED_FOR=forwarded_for,
                         REMOTE_ADDR=remote).status_code


@pytest.fixture
def ping_hook(tenant, publish, settings):
    settings.WEFT_THROTTLE_HOOKS = "3/min"
    publish(sequence("ping", [
        {"id": "in", "type": "HttpEndpoint", "path": "/ping", "trigger": True},
        {"id": "answer", "type": "WriteHttpResponse", "status": 200, "body": "pong"},
    ]))


@pytest.fixture
def token_throttle(monkeypatch):
    monkeypatch.setattr(AnonymousThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "9/min"})


def test_rotated_forwarded_for_does_not_escape_the_token_throttle(token_throttle):
    client = APIClient()
    codes = [guess_password(client, f"198.51.100.{n}") for n in range(6)]
    assert codes == [401, 401, 401, 429, 429, 429]


def test_rotated_forwarded_for_does_not_escape_the_hook_throttle(ping_hook):
    codes = [call_hook(f"198.51.100.{n}") for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert call_hook("198.51.100.1", remote="203.0.113.10") == 200  # another socket address


def test_behind_one_trusted_proxy_the_address_it_appended_counts(token_throttle, settings):
    settings.WEFT_TRUSTED_PROXIES = 1
    client = APIClient()
    proxy = "10.0.0.2"
    # The client controls everything left of what the proxy appended: still one client.
    codes = [guess_password(client, f"1.2.3.{n}, 198.51.100.7", remote=proxy) for n in range(4)]
    assert codes == [401, 401, 401, 429]
    # Another real client behind the same proxy has its own allowance.
    assert guess_password(client, "198.51.100.8", remote=proxy) == 401


def test_behind_trusted_proxies_hooks_count_the_forwarded_client(ping_hook, settings):
    settings.WEFT_TRUSTED_PROXIES = 2
    codes = [call_hook(f"6.6.6.{n}, 198.51.100.7, 10.0.0.3", remote="10.0.0.2")
             for n in range(4)]
    assert codes == [200, 200, 200, 429]
    assert call_hook("198.51.100.8, 10.0.0.3", remote="10.0.0.2") == 200
