"""Access tokens of an external OpenID Connect provider, validated against its JWKS served by a
real local HTTP server with real keys, through the REST API."""

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, TenantFactory
from tests.support.local_http import JsonHandler, serving

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.test/realms/weft"
AUDIENCE = "weft-api"


class SigningKey:
    def __init__(self, kid: str, kind: str = "RSA"):
        self.kid = kid
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS256"
            public_jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.algorithm = "ES256"
            public_jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**public_jwk, "kid": kid, "use": "sig", "alg": self.algorithm}

    def token(self, *, kid: str | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now,
                  "exp": now + 300, "email": "alice@example.test",
                  "weft_roles": ["acme:editor"], **overrides}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.algorithm,
                          headers={"kid": kid or self.kid})


class JwksServer:
    """Serves whatever `keys` holds and counts the fetches."""

    def __init__(self):
        self.keys: list[SigningKey] = []
        self.fetches = 0
        self.discoveries = 0
        server = self

        class Handler(JsonHandler):
            def do_GET(self):
                if self.path.endswith("/.well-known/openid-configuration"):
                    server.discoveries += 1
                    host = f"http://127.0.0.1:{self.server.server_address[1]}"
                    self.reply_json({"issuer": f"{host}/realm",
                                     "jwks_uri": f"{host}/realm/certs"})
                    return
                server.fetches += 1
                self.reply_json({"keys": [k.jwk for k in server.keys]})

        self.handler = Handler


@pytest.fixture
def idp(settings):
    server = JwksServer()
    server.keys = [SigningKey("key-1")]
    with serving(server.handler) as url:
        settings.WEFT_OIDC_ISSUER = ISSUER
        settings.WEFT_OIDC_AUDIENCE = AUDIENCE
        settings.WEFT_OIDC_JWKS_URL = f"{url}/jwks"
        settings.WEFT_OIDC_JWKS_REFETCH_COOLDOWN = 0
        yield server


@pytest.fixture
def acme(db):
    return TenantFactory(slug="acme")


def get(token: str, path: str = "/api/v1/definitions/", tenant: str | None = None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    if tenant:
        client.defaults["HTTP_X_WEFT_TENANT"] = tenant
    return client.get(path)


def test_a_provider_token_signs_in_and_provisions_the_user_with_its_roles(idp, acme):
    from django.contrib.auth import get_user_model

    response = get(idp.keys[0].token())
    assert response.status_code == 200, response.content
    user = get_user_model().objects.get(username="oidc:alice")
    assert user.email == "alice@example.test"
    assert not user.has_usable_password()
    assert [(m.tenant.slug, m.role) for m in user.weft_memberships.all()] == [("acme", "editor")]
    assert get(idp.keys[0].token()).status_code == 200
    assert get_user_model().objects.filter(username__startswith="oidc:").count() == 1
    assert idp.fetches == 1  # the key set is cached


def test_roles_follow_the_token(idp, acme):
    TenantFactory(slug="globex")
    key = idp.keys[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.token(weft_roles=['acme:viewer'])}")
    assert client.get("/api/v1/definitions/").status_code == 200
    denied = client.post("/api/v1/definitions/", {"name": "x"}, format="json")
    assert denied.status_code == 403
    both = key.token(weft_roles=["acme:admin", "globex:viewer", "nowhere:admin", "acme:bogus"])
    assert get(both, "/api/v1/secrets/", tenant="acme").status_code == 200
    assert get(both, "/api/v1/secrets/", tenant="globex").status_code == 403
    assert get(key.token(weft_roles=[]), tenant="acme").status_code == 403


def test_a_role_map_translates_provider_groups(idp, acme, settings):
    settings.WEFT_OIDC_ROLES_CLAIM = "groups"
    settings.WEFT_OIDC_ROLE_MAP = {"weft-acme-admins": "acme:admin",
                                   "weft-readers": ["acme:viewer"]}
    key = idp.keys[0]
    assert get(key.token(groups=["weft-acme-admins", "other"]),
               "/api/v1/secrets/").status_code == 200
    assert get(key.token(groups=["weft-readers"]), "/api/v1/secrets/").status_code == 403
    # Values outside the map grant nothing, even when they look like "tenant:role".
    assert get(key.token(groups=["acme:admin"])).status_code == 403


@pytest.mark.parametrize("case", ["forged", "wrong_audience", "expired", "no_expiry",
                                  "hs256", "none_alg"])
def test_bad_provider_tokens_are_401(idp, acme, case):
    key = idp.keys[0]
    if case == "forged":
        # Same key id, another private key: the signature does not verify.
        token = SigningKey("key-1").token()
    elif case == "wrong_audience":
        token = key.token(aud="someone-else")
    elif case == "expired":
        token = key.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    elif case == "no_expiry":
        token = key.token(exp=None)
    elif case == "hs256":
        shared = "a-shared-secret-someone-guessed-0123456789"
        token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
                            "exp": int(time.time()) + 60}, shared,
                           algorithm="HS256", headers={"kid": "key-1"})
    else:
        token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
                            "exp": int(time.time()) + 60}, None, algorithm="none")
    response = get(token)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="oidc:alice").exists()


def test_a_token_from_another_issuer_is_not_trusted(idp, acme):
    response = get(idp.keys[0].token(iss="https://evil.example.test/"))
    assert response.status_code == 401


def test_key_rotation_is_picked_up_when_a_token_names_the_new_key(idp, acme):
    old = idp.keys[0]
    assert get(old.token()).status_code == 200
    new = SigningKey("key-2", kind="EC")
    idp.keys = [new]
    assert get(new.token()).status_code == 200
    assert idp.fetches == 2
    # The retired key is gone from the provider's set: its tokens stop working.
    assert get(old.token()).status_code == 401


def test_unknown_key_ids_refetch_at_most_once_per_cooldown(idp, acme, settings):
    settings.WEFT_OIDC_JWKS_REFETCH_COOLDOWN = 60
    key = idp.keys[0]
    assert get(key.token()).status_code == 200
    for _ in range(10):
        assert get(key.token(kid=f"made-up-{uuid.uuid4()}")).status_code == 401
    # The first fetch started the cooldown: ten unknown ids caused no request at all.
    assert idp.fetches == 1


def test_an_unreachable_provider_is_a_503_not_a_500(settings, acme):
    settings.WEFT_OIDC_ISSUER = ISSUER
    settings.WEFT_OIDC_AUDIENCE = AUDIENCE
    settings.WEFT_OIDC_JWKS_URL = "http://127.0.0.1:9/jwks"
    response = get(SigningKey("k").token())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "identity_provider_unavailable"


def test_local_tokens_keep_working_next_to_the_provider(idp, acme):
    MembershipFactory(tenant=acme, user__username="bob", role="viewer")
    tokens = APIClient().post("/api/v1/auth/token/", {"username": "bob",
                                                       "password": "pw-123456"},
                              format="json").json()
    assert get(tokens["access"]).status_code == 200
    assert get(idp.keys[0].token()).status_code == 200


def test_an_admin_revoking_a_provider_user_refuses_tokens_issued_before(idp, acme):
    key = idp.keys[0]
    before = key.token(iat=int(time.time()) - 5)
    assert get(before).status_code == 200
    MembershipFactory(tenant=acme, user__username="ada", role="admin")
    admin_tokens = APIClient().post("/api/v1/auth/token/", {"username": "ada",
                                                             "password": "pw-123456"},
                                    format="json").json()
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_tokens['access']}")
    assert admin.post("/api/v1/members/oidc:alice/revoke-tokens/").status_code == 200
    assert get(before).status_code == 401
    # A token the provider issues afterwards works again.
    assert get(key.token(iat=int(time.time()) + 2)).status_code == 200


def test_long_subjects_are_never_truncated_into_one_user(idp, acme):
    from django.contrib.auth import get_user_model

    shared = "x" * 200
    assert get(idp.keys[0].token(sub=shared + "-one")).status_code == 200
    assert get(idp.keys[0].token(sub=shared + "-two")).status_code == 200
    assert get_user_model().objects.filter(username__startswith="oidc:sha256-").count() == 2


def test_the_key_set_is_found_through_the_discovery_document(settings, acme):
    server = JwksServer()
    server.keys = [SigningKey("key-1")]
    with serving(server.handler) as url:
        issuer = f"{url}/realm"
        settings.WEFT_OIDC_ISSUER = issuer
        settings.WEFT_OIDC_AUDIENCE = AUDIENCE
        settings.WEFT_OIDC_JWKS_URL = ""
        key = server.keys[0]
        assert get(key.token(iss=issuer)).status_code == 200
        assert get(key.token(iss=issuer)).status_code == 200
    assert (server.discoveries, server.fetches) == (1, 1)
