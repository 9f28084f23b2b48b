"""HTTP endpoints: `ANY /hooks/{tenant}/{path}`.

A request that matches a published `HttpEndpoint` trigger starts the workflow and runs it here,
synchronously, within the hook's wait bound; the answer is what `WriteHttpResponse` wrote. A
request that matches an `HttpEndpoint` a running instance waits on (same route, same
correlation id) resumes that instance here. If no answer comes in time, the caller gets 202
with the instance id and the workers carry on.

The request's correlation id is, in this order: a path parameter named `correlation_id`, the
`correlation_id` query parameter, or the only path parameter of the route.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from runtime import engine
from workflows.errors import Forbidden, InvalidInput, NotFound, WeftError
from workflows.models import (
    ApiToken,
    Bookmark,
    InstanceStatus,
    Membership,
    Role,
    Tenant,
    TriggerType,
    WorkflowInstance,
    WorkflowTrigger,
)
from workflows.plans import plan_for_instance
from workflows.selectors.definitions import definition_get_published
from workflows.services.bookmarks import resume_step
from workflows.services.inline import InlineRunner, instance_start_inline
from workflows.services.instances import instance_lock
from workflows.services.outbox import steps_publish_on_commit
from workflows.services.records import bookmark_hash
from workflows.services.tenancy import token_hash
from workflows.text import find_unstorable, loads_json


class MethodNotAllowed(WeftError):
    code = "method_not_allowed"


class MemberNotAllowed(Forbidden):
    """A valid access token of a user who may not run this tenant's workflows (403)."""


@dataclass
class HookRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    content_type: str
    authorization: str = ""
    # The user whose access token the Authorization header carries, if it is one (the API
    # layer validates access tokens; called only for endpoints that ask for authorisation).
    access_token_user: Callable[[], object | None] | None = None


@dataclass
class HookAnswer:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


@lru_cache(maxsize=1024)
def _route(pattern: str) -> re.Pattern:
    parts = []
    seen = set()
    for segment in pattern.split("/"):
        match = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", segment)
        # A name repeated (saved before validation refused it) matches as its first use only:
        # one bad route must not break the tenant's other hooks.
        if match and match.group(1) not in seen:
            seen.add(match.group(1))
            parts.append(f"(?P<{match.group(1)}>[^/]+)")
        else:
            parts.append("[^/]+" if match else re.escape(segment))
    return re.compile("^" + "/".join(parts) + "$")


def _parse_body(request: HookRequest):
    if not request.body:
        return None
    if "json" in request.content_type:
        try:
            body = loads_json(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The body is not valid JSON: {exc}",
                               errors=[{"path": "body", "message": str(exc)}],
                               code="malformed_request") from exc
    else:
        body = request.body.decode("utf-8", errors="replace")
    problem = find_unstorable(body)
    if problem:
        where, message = problem
        raise InvalidInput(f"The body is not acceptable: {message}", code="malformed_request",
                           errors=[{"path": f"body.{where}", "message": message}])
    return body


def _correlation(route: dict, query: dict) -> str | None:
    if route.get("correlation_id"):
        return route["correlation_id"]
    if query.get("correlation_id"):
        return query["correlation_id"]
    return next(iter(route.values())) if len(route) == 1 else None


def _authorize(tenant: Tenant, request: HookRequest) -> None:
    """A tenant API token, or the access token of a member who may run workflows (operator
    or above), as `POST definitions/{id}/execute/` asks."""
    scheme, _, token = request.authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Forbidden("This endpoint needs 'Authorization: Bearer <API token or access "
                        "token>'.", code="not_authenticated")
    found = ApiToken.objects.filter(tenant=tenant, token_hash=token_hash(token))
    if found.update(last_used_at=timezone.now()):
        return
    user = request.access_token_user() if request.access_token_user else None
    if user is None:
        raise Forbidden("Unknown API token or access token for this tenant.",
                        code="authentication_failed")
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is None or not membership.has_role(Role.OPERATOR):
        raise MemberNotAllowed(f"Running this endpoint needs the operator role (or above) in "
                               f"tenant {tenant.slug}.")


def _payload(request: HookRequest, path: str, route: dict, body) -> dict:
    return {"method": request.method, "path": path, "route": route, "query": request.query,
            "headers": request.headers, "body": body}


# The distinct routes the tenant's HTTP waits listen on: a loose index scan of
# bookmark_http_route (one index probe per route, however many instances wait on each).
_HTTP_WAIT_ROUTES_SQL = """
WITH RECURSIVE routes(name) AS (
    (SELECT name FROM workflows_bookmark
      WHERE tenant_id = %(tenant)s AND (data -> 'kind') = '"http"'::jsonb
      ORDER BY name LIMIT 1)
    UNION ALL
    SELECT (SELECT b.name FROM workflows_bookmark b
             WHERE b.tenant_id = %(tenant)s AND (b.data -> 'kind') = '"http"'::jsonb
               AND b.name > routes.name
             ORDER BY b.name LIMIT 1)
      FROM routes WHERE routes.name IS NOT NULL
)
SELECT name FROM routes WHERE name IS NOT NULL
"""


def http_wait_routes(tenant: Tenant) -> list[str]:
    if connection.vendor != "postgresql":  # SQLite (`make run`): a plain DISTINCT
        return list(Bookmark.objects.filter(tenant=tenant, data__kind="http")
                    .order_by("name").values_list("name", flat=True).distinct())
    with connection.cursor() as cursor:
        cursor.execute(_HTTP_WAIT_ROUTES_SQL, {"tenant": tenant.pk})
        return [row[0] for row in cursor.fetchall()]


def _http_waits_for(tenant: Tenant, path: str, query: dict):
    """The HTTP waits a request to `path` may resume, oldest first: for each route that
    matches the path, the waits with the request's correlation id and those with none, found
    by their hash on (tenant, hash) as events are. The caller still checks each one."""
    hashes = set()
    for route in http_wait_routes(tenant):
        match = _route(route).match(path)
        if match is not None:
            hashes.add(bookmark_hash(route, None))
            correlation_id = _correlation(match.groupdict(), query)
            if correlation_id:
                hashes.add(bookmark_hash(route, correlation_id))
    if not hashes:
        return []
    return Bookmark.objects.filter(tenant=tenant, hash__in=sorted(hashes),
                                   data__kind="http").order_by("created_at", "id")


def hook_handle(*, tenant_slug: str, path: str, request: HookRequest) -> HookAnswer:
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        raise NotFound("No such endpoint.")
    path = path.strip("/")
    body = _parse_body(request)
    method_mismatch = False
    for trigger in WorkflowTrigger.objects.filter(tenant=tenant, type=TriggerType.HTTP):
        match = _route(trigger.key).match(path)
        if match is None:
            continue
        if request.method not in trigger.properties.get("methods", ["POST"]):
            method_mismatch = True
            continue
        if trigger.properties.get("authorize"):
            _authorize(tenant, request)
        route = match.groupdict()
        return _start(tenant, trigger, _payload(request, path, route, body),
                      correlation_id=_correlation(route, request.query),
                      body_input=body if isinstance(body, dict) else {})
    for bookmark in _http_waits_for(tenant, path, request.query):
        match = _route(bookmark.name).match(path)
        if match is None:
            continue
        if request.method not in bookmark.data.get("methods", ["POST"]):
            method_mismatch = True
            continue
        route = match.groupdict()
        correlation_id = _correlation(route, request.query)
        if bookmark.correlation_id and bookmark.correlation_id != correlation_id:
            continue
        if bookmark.data.get("authorize"):
            _authorize(tenant, request)
        return _resume(tenant, bookmark, _payload(request, path, route, body))
    if method_mismatch:
        raise MethodNotAllowed(f"{request.method} is not accepted here.")
    raise NotFound("No such endpoint.")


def _answer_or_wait(instance: WorkflowInstance, deadline: float) -> HookAnswer:
    """The instance's HTTP answer, waiting (bounded) while the workers run it."""
    while True:
        if instance.http_response is not None:
            answer = instance.http_response
            return HookAnswer(status=answer.get("status") or 200, body=answer.get("body"),
                              headers=answer.get("headers") or {})
        if instance.status not in InstanceStatus.active() or time.monotonic() >= deadline:
            return HookAnswer(status=202, body={"id": str(instance.id),
                                                "status": instance.status})
        time.sleep(0.05)
        instance = WorkflowInstance.objects.only("id", "status", "http_response").get(
            pk=instance.pk)


def _start(tenant, trigger: WorkflowTrigger, payload: dict, *, correlation_id, body_input):
    deadline = time.monotonic() + settings.WEFT_HOOK_WAIT_SECONDS
    published = definition_get_published(tenant=tenant, definition_id=trigger.definition_id)
    instance = instance_start_inline(
        tenant=tenant, published=published, raw_input=body_input, correlation_id=correlation_id,
        trigger={"activity_id": trigger.activity_id, "payload": payload}, deadline=deadline)
    return _answer_or_wait(instance, deadline)


def _resume(tenant, bookmark: Bookmark, payload: dict) -> HookAnswer:
    deadline = time.monotonic() + settings.WEFT_HOOK_WAIT_SECONDS
    with transaction.atomic():
        instance = instance_lock(tenant, bookmark.instance_id)
        if not Bookmark.objects.filter(pk=bookmark.pk).delete()[0]:
            raise NotFound("No such endpoint.")
        instance.http_response = None  # this request waits for its own answer
        if instance.held:
            # Suspended by an operator: the request is recorded (the bookmark is claimed and
            # its resume written) and runs on the workers once the instance is resumed.
            step = resume_step(instance, bookmark.key, payload)
            step.save(force_insert=True)
            steps_publish_on_commit([step])
            return HookAnswer(status=202, body={"id": str(instance.id),
                                                "status": instance.status})
        plan = plan_for_instance(instance)
        runner = InlineRunner(instance, plan)
        runner.budget.deadline = min(runner.budget.deadline, deadline)
        runner.drive(engine.resume_bookmark(plan, instance.state, bookmark_key=bookmark.key,
                                            payload=payload, now=timezone.now(),
                                            max_steps=1000))
        runner.finish()
    return _answer_or_wait(instance, deadline)
