"""HTTP: endpoints (trigger or wait), responses, and outgoing requests (a task)."""

from __future__ import annotations

from runtime.engine.activity import Activity, PropertySpec
from runtime.engine.errors import TaskFailure

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_EXPECTED = [200]
TRANSIENT_CODES = ("timeout", "connection_error", "protocol_error", "request_failed")


class HttpEndpoint(Activity):
    type_name = "HttpEndpoint"
    family = "http"
    kind = "blocking"
    can_trigger = True
    description = (
        "Waits for (or, as a trigger, is started by) a request to /hooks/{tenant}/{path}. "
        "Output: {method, path, route, query, headers, body}."
    )
    properties = (
        PropertySpec("path", "string", required=True, dynamic=False,
                     description="route under /hooks/{tenant}/, may hold {parameters}"),
        PropertySpec("methods", "array", dynamic=False, default=["POST"]),
        PropertySpec("authorize", "boolean", dynamic=False, default=False,
                     description="require a tenant API token, or the access token of a "
                                 "member with the operator role or above"),
    )

    def prepare(self, raw, node_path, cx):
        methods = raw.get("methods")
        if isinstance(methods, list):
            for i, method in enumerate(methods):
                if not isinstance(method, str) or method.upper() not in METHODS:
                    cx.problem(f"{node_path}.methods[{i}]",
                               f"must be one of: {', '.join(METHODS)}")
        path = raw.get("path")
        if isinstance(path, str) and not path.strip("/"):
            cx.problem(f"{node_path}.path", "must not be empty")
        if isinstance(path, str):
            names = route_parameter_names(path)
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                cx.problem(f"{node_path}.path",
                           f"route parameter names must be unique; repeated: {', '.join(repeated)}")

    def trigger_properties(self, node) -> dict:
        return {"path": normalise_path(node.literals["path"]),
                "methods": [m.upper() for m in node.literals["methods"]],
                "authorize": bool(node.literals.get("authorize"))}

    def execute(self, ctx) -> None:
        path = normalise_path(ctx.props["path"])
        methods = [m.upper() for m in ctx.props["methods"]]
        ctx.bookmark(kind="http", name=path, data={"path": path, "methods": methods,
                                                   "authorize": bool(ctx.props["authorize"])})


def route_parameter_names(path: str) -> list[str]:
    """The `{name}` segments of a route, in order."""
    return [segment[1:-1] for segment in path.strip("/").split("/")
            if len(segment) > 2 and segment.startswith("{") and segment.endswith("}")]


def normalise_path(path: str) -> str:
    return path.strip().strip("/")


class WriteHttpResponse(Activity):
    type_name = "WriteHttpResponse"
    family = "http"
    description = "Answers the HTTP request that started or resumed the instance."
    properties = (
        PropertySpec("status", "integer", default=200),
        PropertySpec("body", "any"),
        PropertySpec("headers", "object", per_key=True, default={}),
    )

    def execute(self, ctx) -> None:
        status = ctx.props["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            ctx.fail(f"status must be an HTTP status code, got {status!r}")
        headers = ctx.props["headers"] or {}
        if not isinstance(headers, dict):
            ctx.fail("headers must be an object")
        ctx.effect("http_response", status=status, body=ctx.props["body"],
                   headers={str(k): str(v) for k, v in headers.items()})
        ctx.complete(None)


class SendHttpRequest(Activity):
    """A task: the request is sent by a worker (execute_task), never by the engine."""

    type_name = "SendHttpRequest"
    family = "http"
    kind = "task"
    description = (
        "Sends an HTTP request from a worker. Outcome: the status code when it is expected, "
        "else 'failed'. Output: {status, headers, body}."
    )
    properties = (
        PropertySpec("url", "string", required=True),
        PropertySpec("method", "string", default="GET"),
        PropertySpec("headers", "object", per_key=True, default={}),
        PropertySpec("body", "any"),
        PropertySpec("timeout", "number", default=30, description="seconds"),
        PropertySpec("expected_status", "array", default=DEFAULT_EXPECTED,
                     description="status codes that count as success, e.g. [200, 201]"),
    )
    outcomes = (*(str(s) for s in DEFAULT_EXPECTED), "failed")
    fallback_outcomes = ("failed",)
    failure_outcomes = ("failed",)

    def prepare(self, raw, node_path, cx):
        expected = raw.get("expected_status")
        if isinstance(expected, list):
            for i, status in enumerate(expected):
                if isinstance(status, bool) or not isinstance(status, int) \
                        or not 100 <= status <= 599:
                    cx.problem(f"{node_path}.expected_status[{i}]", "must be an HTTP status code")
        method = raw.get("method")
        if isinstance(method, str) and method.upper() not in METHODS:
            cx.problem(f"{node_path}.method", f"must be one of: {', '.join(METHODS)}")

    def node_outcomes(self, literals, extra):
        if "expected_status" not in literals:
            return None  # computed at run time: any status outcome may be connected
        expected = literals["expected_status"] or DEFAULT_EXPECTED
        return (*(str(s) for s in expected), "failed")

    def execute(self, ctx) -> None:
        props = ctx.props
        if not isinstance(props["url"], str) or not props["url"]:
            ctx.fail(f"url must be a non-empty string, got {props['url']!r}")
        ctx.request_task({
            "url": props["url"],
            "method": str(props["method"] or "GET").upper(),
            "headers": {str(k): str(v) for k, v in (props["headers"] or {}).items()},
            "body": props["body"],
            "timeout": props["timeout"],
            "expected_status": list(props["expected_status"] or DEFAULT_EXPECTED),
        })

    def run_task(self, arguments: dict, context, *, http_allowed_hosts=()):
        from runtime.activities.http_client import HttpRequestError, send_request

        try:
            return send_request(
                url=arguments["url"],
                method=arguments["method"],
                headers=arguments["headers"],
                body=arguments["body"],
                timeout=arguments["timeout"],
                allowed_hosts=http_allowed_hosts,
            )
        except HttpRequestError as exc:
            # Only transient network trouble is worth another attempt; a bad URL, a blocked
            # host or a malformed request fails the same way every time.
            retryable = getattr(exc, "code", None) in TRANSIENT_CODES
            raise TaskFailure(f"{exc.code}: {exc.message}", retryable=retryable) from exc

    def task_failed(self, ctx, error: str) -> None:
        # A request that never got an answer takes the `failed` outcome like an unexpected
        # status does, so flowcharts can route both the same way.
        ctx.log(f"request failed: {error}", "warning")
        ctx.complete({"status": None, "headers": {}, "body": None, "error": error},
                     ("failed",))

    def task_completed(self, ctx, output) -> None:
        expected = (ctx.props or {}).get("expected_status") or DEFAULT_EXPECTED
        status = output.get("status") if isinstance(output, dict) else None
        outcome = str(status) if status in expected else "failed"
        ctx.complete(output, (outcome,))
