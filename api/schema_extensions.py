"""drf-spectacular extensions for Weft's own authentication and token serializers (imported by
ApiConfig.ready so that the schema documents them like simplejwt's originals)."""

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "api.authentication.VersionedJWTAuthentication"


class VersionedTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "api.authentication.VersionedTokenObtainPairSerializer"


class VersionedTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "api.authentication.VersionedTokenRefreshSerializer"


class OIDCScheme(OpenApiAuthenticationExtension):
    target_class = "api.oidc.OIDCAuthentication"
    name = "oidcAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="HTTP_AUTHORIZATION",
                                                   token_prefix="Bearer",  # noqa: S106
                                                   bearer_format="JWT")
