"""What a workflow may put in an HTTP answer served from Weft's own origin.

`WriteHttpResponse` is written by definition editors and answered to anyone who calls the
hook. Copied as they are, its headers could set cookies on Weft's origin, replace its security
policy or serve a page that runs script with a staff user's session. So only an allowlist of
headers passes, and every hook answer carries `X-Content-Type-Options: nosniff` and a
sandboxing Content-Security-Policy: a browser renders any HTML from a hook in an opaque
origin with scripts, forms and plugins off.
"""

import json
import re

from django.http import HttpResponse

# Standard headers an integration legitimately sets on a reply (content negotiation,
# caching, downloads, redirects, rate-limit hints).
ALLOWED_HEADERS = frozenset({
    "cache-control",
    "content-disposition",
    "content-language",
    "content-type",
    "etag",
    "expires",
    "last-modified",
    "location",
    "pragma",
    "retry-after",
    "vary",
})
# Custom `X-...` headers pass too, except these, which are security headers or ours.
REFUSED_CUSTOM_HEADERS = frozenset({
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "x-permitted-cross-domain-policies",
    "x-dns-prefetch-control",
    "x-download-options",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
})
HOOK_CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; frame-ancestors 'none'"
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
_MAX_HEADER_VALUE = 4096


def header_allowed(name: str) -> bool:
    lowered = name.lower()
    if lowered in ALLOWED_HEADERS:
        return True
    return lowered.startswith("x-") and lowered not in REFUSED_CUSTOM_HEADERS


def _clean_headers(headers: dict) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for name, value in (headers or {}).items():
        name, value = str(name), str(value)
        if not _HEADER_NAME.fullmatch(name) or not header_allowed(name):
            continue
        if len(value) > _MAX_HEADER_VALUE or any(ch in value for ch in "\r\n\x00"):
            continue
        cleaned[name] = value
    return cleaned


def hook_response(*, status: int, body, headers: dict) -> HttpResponse:
    """The HTTP response for a workflow's answer: its body and allowed headers, our policy."""
    if isinstance(body, str):
        response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponse(json.dumps(body), status=status,
                                content_type="application/json")
    for name, value in _clean_headers(headers).items():
        response[name] = value
    return protect(response)


def protect(response: HttpResponse) -> HttpResponse:
    """Security headers every `/hooks/` answer carries, errors included."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = HOOK_CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "no-referrer"
    return response
