"""Content-Security-Policy for Studio pages: scripts only from our own origin, never inline.

Styles allow inline attributes because the graph library positions its canvas with them; no
script can be injected through a style attribute.
"""

from functools import wraps

STUDIO_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def with_studio_csp(response):
    response.headers["Content-Security-Policy"] = STUDIO_CSP
    return response


def studio_csp(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return with_studio_csp(view(request, *args, **kwargs))

    return wrapped
