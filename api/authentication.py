"""Bearer-token authentication: Weft's own JWTs (checked against the user's token version, so
revocation is immediate) and, when configured, access tokens of an external OpenID Connect
provider (api.oidc)."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from workflows.services.tokens import TOKEN_VERSION_CLAIM, token_version_get


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication plus the token-version check (one query: the user row
    joined with its version row)."""

    def get_user(self, validated_token):
        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        user = (self.user_model.objects.select_related("weft_token_version")
                .filter(**{api_settings.USER_ID_FIELD: user_id}).first())
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        current = getattr(getattr(user, "weft_token_version", None), "version", 0)
        if validated_token.get(TOKEN_VERSION_CLAIM, 0) != current:
            raise AuthenticationFailed(_("This token has been revoked."), code="token_revoked")
        return user


class VersionedTokenObtainPairSerializer(TokenObtainPairSerializer):
    """Issues tokens stamped with the user's current token version."""

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token[TOKEN_VERSION_CLAIM] = token_version_get(user=user)
        return token


class VersionedTokenRefreshSerializer(TokenRefreshSerializer):
    """Refuses refresh tokens issued before the user's tokens were revoked (the blacklist
    covers tokens it recorded; the version also covers any it did not)."""

    def validate(self, attrs):
        token = RefreshToken(attrs["refresh"])
        user = get_user_model().objects.filter(
            **{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}).first()
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("No active account found for the given token."),
                                       code="no_active_account")
        if token.get(TOKEN_VERSION_CLAIM, 0) != token_version_get(user=user):
            raise AuthenticationFailed(_("This token has been revoked."), code="token_revoked")
        return super().validate(attrs)
