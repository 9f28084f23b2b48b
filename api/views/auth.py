"""Token endpoints beyond obtain/refresh: logging out (one refresh token), logging out
everywhere, and a tenant admin revoking a member's tokens."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenBlacklistView

from api.views.base import TenantAPIView
from api.views.definitions import ERRORS
from workflows.auditing import audited, request_actor
from workflows.models import Role
from workflows.selectors.tenancy import member_get
from workflows.services.tokens import user_tokens_revoke

RevokedSerializer = inline_serializer("TokensRevoked", {
    "username": serializers.CharField(), "token_version": serializers.IntegerField()})


class TokenRevokeView(TokenBlacklistView):
    """Logout: the refresh token is blacklisted (its access tokens expire on their own)."""

    @extend_schema(summary="Revoke a refresh token (log out)",
                   responses={200: inline_serializer("TokenRevoked", {}), **ERRORS})
    def post(self, request: Request, *args, **kwargs) -> Response:
        return super().post(request, *args, **kwargs)


class OwnTokensRevokeView(APIView):
    """Log out everywhere: every access and refresh token of the caller stops working."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Revoke all of my tokens", request=None,
                   responses={200: RevokedSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        with audited(request_actor(request, via="api"), action="tokens.revoke_own", tenant=None,
                     target_type="user", target_id=request.user.get_username()):
            version = user_tokens_revoke(user=request.user)
        return Response({"username": request.user.get_username(), "token_version": version})


class MemberTokensRevokeView(TenantAPIView):
    """A tenant admin revokes every token of one of the tenant's members (a lost laptop, a
    leaver). Users outside the tenant are a 404."""

    required_role = Role.ADMIN

    @extend_schema(summary="Revoke all tokens of a member of this tenant", request=None,
                   responses={200: RevokedSerializer, **ERRORS})
    def post(self, request: Request, username: str) -> Response:
        member = member_get(tenant=self.tenant, username=username)
        with self.audited("member.tokens_revoke", "user", member.get_username()):
            version = user_tokens_revoke(user=member)
        return Response({"username": member.get_username(), "token_version": version})
