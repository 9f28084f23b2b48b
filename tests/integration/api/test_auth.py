import pytest
from rest_framework.test import APIClient

from api.throttling import AnonymousThrottle, UserThrottle
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(tenant):
    return MembershipFactory(tenant=tenant, user__username="alice", role="editor").user


def test_token_pair_then_bearer_access_then_refresh(alice):
    client = APIClient()
    tokens = client.post("/api/v1/auth/token/", {"username": "alice", "password": "pw-123456"},
                         format="json").json()
    assert set(tokens) == {"access", "refresh"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/v1/definitions/").status_code == 200
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]},
                                 format="json")
    assert refreshed.status_code == 200
    assert "access" in refreshed.json()


def test_wrong_password_is_401_in_the_error_format(alice):
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "no"},
                                format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_garbage_bearer_token_is_401(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = client.get("/api/v1/definitions/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("url", ["/api/v1/definitions/", "/api/v1/definitions/x/",
                                 "/api/v1/definitions/validate/"])
def test_unauthenticated_requests_get_401(anonymous, url):
    response = anonymous.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/api/schema/", "/api/docs/"])
def test_health_and_schema_need_no_authentication(anonymous, url):
    assert anonymous.get(url).status_code == 200


def test_session_login_works_for_the_browsable_api(alice):
    client = APIClient()
    assert client.login(username="alice", password="pw-123456")
    assert client.get("/api/v1/definitions/").status_code == 200


def test_throttled_user_gets_429_with_retry_after(alice, monkeypatch):
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "100/min"})
    client = APIClient()
    client.force_authenticate(alice)
    statuses = [client.get("/api/v1/definitions/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/definitions/")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"


def test_throttled_anonymous_gets_429(db, monkeypatch):
    monkeypatch.setattr(AnonymousThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "9/min"})
    client = APIClient()
    codes = [client.post("/api/v1/auth/token/", {"username": "x", "password": "y"},
                         format="json").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
