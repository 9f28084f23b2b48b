"""`ANY /hooks/{tenant}/{path}`: HTTP-endpoint triggers and waits (outside /api/v1/)."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from api.errors import error_body
from api.hook_responses import hook_response, protect
from api.throttling import HookThrottle
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound, WeftError
from workflows.services.hooks import HookRequest, MemberNotAllowed, MethodNotAllowed, hook_handle

# Subclasses before their base class: the first match wins.
_STATUS = {InvalidInput: 400, MemberNotAllowed: 403, Forbidden: 401, NotFound: 404,
           MethodNotAllowed: 405, Conflict: 409}
_SKIPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def _access_token_user(authorization: str):
    """The active user of a valid access token in `Authorization: Bearer ...`, else None."""
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return None
    authentication = JWTAuthentication()
    try:
        return authentication.get_user(authentication.get_validated_token(raw.encode()))
    except (InvalidToken, AuthenticationFailed):
        return None


@csrf_exempt
def hook(request, tenant: str, path: str = "") -> HttpResponse:
    return protect(_answer(request, tenant, path))


def _answer(request, tenant: str, path: str) -> HttpResponse:
    throttle = HookThrottle(tenant)
    if not throttle.allow_request(request, None):
        wait = max(1, int(throttle.wait() or 1))
        response = JsonResponse(
            error_body("throttled", "Too many requests; retry later.", {"retry_after": wait}),
            status=429,
        )
        response["Retry-After"] = str(wait)
        return response
    hook_request = HookRequest(
        method=request.method, path=path,
        query={key: request.GET.get(key) for key in request.GET},
        headers={k.lower(): v for k, v in request.headers.items()
                 if k.lower() not in _SKIPPED_HEADERS},
        body=request.body, content_type=request.content_type or "",
        authorization=request.headers.get("Authorization", ""),
        access_token_user=lambda: _access_token_user(request.headers.get("Authorization", "")),
    )
    try:
        answer = hook_handle(tenant_slug=tenant, path=path, request=hook_request)
    except WeftError as exc:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return JsonResponse(error_body(exc.code, exc.message, exc.details), status=status)
    if answer.status == 202 and isinstance(answer.body, dict) \
            and answer.body.get("status") == "faulted":
        # The workflow failed before it answered: say so (the incident is on the instance,
        # for its operators; the caller only learns that it failed).
        return JsonResponse(error_body(
            "workflow_faulted", "The workflow failed before it answered; an operator can "
            "see why on the instance.", {"id": answer.body.get("id")}), status=502)
    return hook_response(status=answer.status, body=answer.body, headers=answer.headers)
