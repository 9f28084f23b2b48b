"""OAuth 2.0 resource server: access tokens issued by an external OpenID Connect provider,
checked against its JWKS (signature, issuer, audience, expiry), mapped to tenants and roles
by configuration (settings `WEFT_OIDC_*`, see README "Security").

Tokens whose (unverified) issuer is not the configured one are left to the next
authentication class, so Weft's own tokens keep working next to the provider's."""

import hashlib
import threading
from dataclasses import dataclass

import httpx
import jwt
from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from workflows.services.identity import external_user_sync, roles_from_claim
from workflows.services.tokens import user_tokens_revoked_at


class IdentityProviderUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The identity provider's signing keys cannot be fetched; retry shortly."
    default_code = "identity_provider_unavailable"


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...]
    username_claim: str
    username_prefix: str
    roles_claim: str
    role_map: dict | None
    leeway: int
    jwks_cache_seconds: int
    jwks_refetch_cooldown: float


def oidc_settings() -> OidcSettings | None:
    if not settings.WEFT_OIDC_ISSUER:
        return None
    return OidcSettings(
        issuer=settings.WEFT_OIDC_ISSUER,
        audience=settings.WEFT_OIDC_AUDIENCE,
        jwks_url=settings.WEFT_OIDC_JWKS_URL,
        algorithms=tuple(settings.WEFT_OIDC_ALGORITHMS),
        username_claim=settings.WEFT_OIDC_USERNAME_CLAIM,
        username_prefix=settings.WEFT_OIDC_USERNAME_PREFIX,
        roles_claim=settings.WEFT_OIDC_ROLES_CLAIM,
        role_map=settings.WEFT_OIDC_ROLE_MAP,
        leeway=settings.WEFT_OIDC_LEEWAY,
        jwks_cache_seconds=settings.WEFT_OIDC_JWKS_CACHE_SECONDS,
        jwks_refetch_cooldown=settings.WEFT_OIDC_JWKS_REFETCH_COOLDOWN,
    )


_clients: dict[tuple, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()
_discovered: dict[str, str] = {}


def _jwks_url(config: OidcSettings) -> str:
    """The configured JWKS URL, or the `jwks_uri` of the provider's discovery document (read
    once per process)."""
    if config.jwks_url:
        return config.jwks_url
    if config.issuer not in _discovered:
        url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=5)
            response.raise_for_status()
            jwks_uri = response.json()["jwks_uri"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise IdentityProviderUnavailable(
                "The identity provider's discovery document cannot be read; retry shortly.",
            ) from exc
        _discovered[config.issuer] = jwks_uri
    return _discovered[config.issuer]


def _jwks_client(config: OidcSettings) -> jwt.PyJWKClient:
    """One client per JWKS URL and process: the key set is cached for `jwks_cache_seconds`, and
    a token naming an unknown key (a rotation) refetches it at most once per cooldown, so a
    flood of made-up key ids cannot turn into a flood of requests to the provider."""
    jwks_url = _jwks_url(config)
    key = (jwks_url, config.jwks_cache_seconds, config.jwks_refetch_cooldown)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = jwt.PyJWKClient(
                jwks_url, cache_jwk_set=True, lifespan=config.jwks_cache_seconds,
                timeout=5, cooldown_duration=config.jwks_refetch_cooldown)
        return client


def _failed(message: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(message, code="invalid_token")


class OIDCAuthentication(BaseAuthentication):
    def authenticate(self, request):
        config = oidc_settings()
        if config is None:
            return None
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        raw = parts[1].decode("latin-1")
        try:
            unverified = jwt.decode(raw, options={"verify_signature": False})
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            return None  # not a JWT at all: the next class answers
        if not isinstance(unverified, dict) or unverified.get("iss") != config.issuer:
            return None
        claims = self._verified_claims(raw, header, config)
        return self._user_for(claims, config), claims

    def _verified_claims(self, raw: str, header: dict, config: OidcSettings) -> dict:
        if header.get("alg") not in config.algorithms:
            raise _failed(f"Token algorithm {header.get('alg')!r} is not accepted.")
        try:
            signing_key = _jwks_client(config).get_signing_key(header.get("kid"))
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable() from exc
        except jwt.PyJWKClientError as exc:
            raise _failed("The token is signed with a key the identity provider does not "
                          "publish.") from exc
        try:
            return jwt.decode(raw, signing_key.key, algorithms=list(config.algorithms),
                              audience=config.audience, issuer=config.issuer,
                              leeway=config.leeway,
                              options={"require": ["exp", "iss", "aud", config.username_claim]})
        except jwt.ExpiredSignatureError as exc:
            raise _failed("The token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise _failed("The token is not meant for this API (audience).") from exc
        except jwt.InvalidSignatureError as exc:
            raise _failed("The token's signature is not valid.") from exc
        except jwt.PyJWTError as exc:
            raise _failed(f"The token is not valid: {exc}") from exc

    def _user_for(self, claims: dict, config: OidcSettings):
        subject = claims.get(config.username_claim)
        if not isinstance(subject, str) or not subject:
            raise _failed(f"The token's {config.username_claim!r} claim is not a string.")
        username = f"{config.username_prefix}{subject}"
        if len(username) > 150:
            # Never truncate: two long subjects sharing a prefix would become one user.
            digest = hashlib.sha256(subject.encode()).hexdigest()
            username = f"{config.username_prefix}sha256-{digest}"
        roles = roles_from_claim(claims.get(config.roles_claim), config.role_map)
        email = claims.get("email") if isinstance(claims.get("email"), str) else ""
        user = external_user_sync(username=username, email=email, roles=roles)
        if not user.is_active:
            raise _failed("This user is inactive.")
        revoked_at = user_tokens_revoked_at(user=user)
        issued_at = claims.get("iat")
        if revoked_at is not None and (not isinstance(issued_at, int | float)
                                       or issued_at <= revoked_at.timestamp()):
            # Weft cannot revoke the provider's tokens, but it can refuse those issued before
            # a revocation here (an admin's "revoke tokens" applies to provider users too).
            raise _failed("This token has been revoked.")
        return user

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
