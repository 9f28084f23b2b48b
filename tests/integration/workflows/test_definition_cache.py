"""The published-definition cache against real Redis servers (one is stopped on purpose)."""

import shutil
import socket
import subprocess
import time

import pytest
from prometheus_client import REGISTRY

from tests.factories import definition_body
from workflows.errors import NotFound
from workflows.selectors.definitions import definition_get_published
from workflows.services.definitions import (
    definition_create,
    definition_delete,
    definition_publish,
    definition_retract,
    definition_save_draft,
)

pytestmark = pytest.mark.django_db(transaction=True)


def cache_count(result: str) -> float:
    return REGISTRY.get_sample_value(
        "weft_definition_cache_requests_total", {"result": result}
    ) or 0.0


@pytest.fixture
def published(tenant, user):
    definition_create(tenant=tenant, user=user, body=definition_body())
    return definition_publish(tenant=tenant, user=user, definition_id="hello")


def test_second_read_is_a_cache_hit(tenant, published):
    hits, misses = cache_count("hit"), cache_count("miss")
    first = definition_get_published(tenant=tenant, definition_id="hello")
    second = definition_get_published(tenant=tenant, definition_id="hello")
    assert first == second and first.version == 1
    assert (cache_count("miss") - misses, cache_count("hit") - hits) == (1, 1)


def test_publish_invalidates_the_cached_version(tenant, user, published):
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 1
    definition_save_draft(tenant=tenant, user=user, definition_id="hello",
                          body=definition_body(description="v2"))
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 1
    definition_publish(tenant=tenant, user=user, definition_id="hello")
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 2


def test_retract_invalidates_the_cached_version(tenant, user, published):
    definition_get_published(tenant=tenant, definition_id="hello")
    definition_retract(tenant=tenant, user=user, definition_id="hello")
    with pytest.raises(NotFound):
        definition_get_published(tenant=tenant, definition_id="hello")


def test_delete_invalidates_the_cached_version(tenant, user, published):
    definition_get_published(tenant=tenant, definition_id="hello")
    definition_delete(tenant=tenant, user=user, definition_id="hello")
    with pytest.raises(NotFound):
        definition_get_published(tenant=tenant, definition_id="hello")


def test_nothing_published_is_cached_and_then_invalidated_by_publish(tenant, user):
    definition_create(tenant=tenant, user=user, body=definition_body())
    with pytest.raises(NotFound):
        definition_get_published(tenant=tenant, definition_id="hello")
    definition_publish(tenant=tenant, user=user, definition_id="hello")
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def private_redis(settings):
    """A Redis server of this test's own, so that stopping it disturbs nothing else."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for this test (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_reads_are_correct_with_redis_stopped(tenant, user, published, private_redis, editor,
                                              caplog):
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 1
    errors = cache_count("error")
    private_redis.kill()
    private_redis.wait()
    # Served from the database, with a warning, never an error.
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 1
    definition_save_draft(tenant=tenant, user=user, definition_id="hello",
                          body=definition_body(description="v2"))
    definition_publish(tenant=tenant, user=user, definition_id="hello")
    assert definition_get_published(tenant=tenant, definition_id="hello").version == 2
    assert cache_count("error") - errors >= 2
    # The API keeps answering too (throttles fail open) and readiness reports degraded.
    assert editor.get("/api/v1/definitions/hello/").status_code == 200
    ready = editor.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "cache": "degraded"}
