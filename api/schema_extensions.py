"""drf-spectacular extensions for Weft's own authentication and token serializers (imported by
ApiConfig.ready so that the schema documents them like simplejwt's originals)."""

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "api.authentication.VersionedJWTAuthentication"


class VersionedTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "api.authentication.VersionedTokenObtainPairSerializer"


class VersionedTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "api.authentication.VersionedTokenRefreshSerializer"
