"""Every route of the URL configuration, with every role and with another tenant's ids,
against a table of the status codes each should get. A route missing from the table fails
`test_every_route_is_in_the_table`, so a new endpoint cannot ship without deciding who may
call it."""

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.factories import MembershipFactory, TenantFactory, UserFactory, definition_body
from tests.support.spec_example import ORDER_APPROVAL

ROLES = ("anonymous", "viewer", "operator", "editor", "admin")

# Bodies that are valid for the route, so that a permitted role gets the real answer.
DEFINITION = definition_body("fresh")


def _bodies(route: str) -> dict | None:
    return {
        "token-obtain": {"username": "nobody", "password": "wrong-password"},
        "token-refresh": {"refresh": "not-a-token"},
        "token-revoke": {"refresh": "not-a-token"},
        "definition-list": DEFINITION,
        "definition-validate": DEFINITION,
        "definition-detail": {**{k: v for k, v in ORDER_APPROVAL.items()
                                 if k != "definition_id"}, "name": "Renamed"},
        "definition-execute": {"input": {"order_id": "M1", "amount": 5}},
        "definition-dispatch": {"input": {"order_id": "M2", "amount": 5}},
        "event-publish": {"correlation_id": "nothing-waits"},
        "bookmark-resume": {"payload": {"ok": True}},
        "secret-list": {"name": "NEW_SECRET", "value": "value-1234"},
        "secret-detail": {"value": "value-5678"},
    }.get(route)


# (route name, method): expected status for (anonymous, viewer, operator, editor, admin) with
# the caller's own tenant's ids, and the status every role allowed by the first row gets with
# another tenant's ids (None where the route takes no tenant-scoped id).
R = "own"
MATRIX: dict[tuple[str, str], tuple[tuple[int, ...], int | None]] = {
    # Public: health, schema, docs; the hook of a path nobody serves; login endpoints.
    ("healthz", "GET"): ((200, 200, 200, 200, 200), None),
    ("readyz", "GET"): ((200, 200, 200, 200, 200), None),
    ("metrics", "GET"): ((200, 200, 200, 200, 200), None),
    ("schema", "GET"): ((200, 200, 200, 200, 200), None),
    ("swagger-ui", "GET"): ((200, 200, 200, 200, 200), None),
    ("hook", "GET"): ((404, 404, 404, 404, 404), 404),
    ("hook", "POST"): ((404, 404, 404, 404, 404), 404),
    ("admin", "GET"): ((302, 302, 302, 302, 302), None),
    ("token-obtain", "POST"): ((401, 401, 401, 401, 401), None),
    ("token-refresh", "POST"): ((401, 401, 401, 401, 401), None),
    ("token-revoke", "POST"): ((401, 401, 401, 401, 401), None),
    ("tokens-revoke-own", "POST"): ((401, 200, 200, 200, 200), None),
    ("member-tokens-revoke", "POST"): ((401, 403, 403, 403, 200), 404),
    # Definitions: viewers read, editors write.
    ("definition-list", "GET"): ((401, 200, 200, 200, 200), None),
    ("definition-list", "POST"): ((401, 403, 403, 201, 201), None),
    # Validating saves nothing: any member may.
    ("definition-validate", "POST"): ((401, 200, 200, 200, 200), None),
    ("definition-detail", "GET"): ((401, 200, 200, 200, 200), 404),
    ("definition-detail", "PUT"): ((401, 403, 403, 200, 200), 404),
    ("definition-detail", "DELETE"): ((401, 403, 403, 409, 409), 404),
    ("definition-publish", "POST"): ((401, 403, 403, 200, 200), 404),
    ("definition-retract", "POST"): ((401, 403, 403, 200, 200), 404),
    ("definition-versions", "GET"): ((401, 200, 200, 200, 200), 404),
    ("definition-version", "GET"): ((401, 200, 200, 200, 200), 404),
    # Running: operators start, act on instances, publish events, resume bookmarks.
    ("definition-execute", "POST"): ((401, 403, 200, 200, 200), 404),
    ("definition-dispatch", "POST"): ((401, 403, 202, 202, 202), 404),
    ("instance-list", "GET"): ((401, 200, 200, 200, 200), None),
    ("instance-detail", "GET"): ((401, 200, 200, 200, 200), 404),
    # Deleting a (finished) instance is an operator's housekeeping; this one still waits.
    ("instance-detail", "DELETE"): ((401, 403, 409, 409, 409), 404),
    ("instance-cancel", "POST"): ((401, 403, 200, 200, 200), 404),
    ("instance-suspend", "POST"): ((401, 403, 200, 200, 200), 404),
    ("instance-resume", "POST"): ((401, 403, 409, 409, 409), 404),
    ("instance-retry", "POST"): ((401, 403, 409, 409, 409), 404),
    ("instance-journal", "GET"): ((401, 200, 200, 200, 200), 404),
    # Only archived instances have one; this one is live.
    ("instance-archive", "GET"): ((401, 404, 404, 404, 404), 404),
    ("instance-activity-executions", "GET"): ((401, 200, 200, 200, 200), 404),
    ("instance-bookmarks", "GET"): ((401, 200, 200, 200, 200), 404),
    ("event-publish", "POST"): ((401, 403, 200, 200, 200), None),
    ("bookmark-resume", "POST"): ((401, 403, 200, 200, 200), 404),
    ("activity-types", "GET"): ((401, 200, 200, 200, 200), None),
    ("worker-list", "GET"): ((401, 200, 200, 200, 200), None),
    ("dead-letter-list", "GET"): ((401, 200, 200, 200, 200), None),
    ("dead-letter-redrive", "POST"): ((401, 403, 409, 409, 409), 404),
    # Secrets: editors see names, admins write.
    ("secret-list", "GET"): ((401, 403, 403, 200, 200), None),
    ("secret-list", "POST"): ((401, 403, 403, 403, 201), None),
    ("secret-detail", "GET"): ((401, 403, 403, 200, 200), 404),
    ("secret-detail", "PUT"): ((401, 403, 403, 403, 200), 201),
    ("secret-detail", "DELETE"): ((401, 403, 403, 403, 204), 404),
    # The API's index and the docs: public.
    ("api-index", "GET"): ((200, 200, 200, 200, 200), None),
    ("redoc", "GET"): ((200, 200, 200, 200, 200), None),
    # What the signed-in caller is (tenants and roles) and instance counts: members.
    ("me", "GET"): ((401, 200, 200, 200, 200), None),
    ("instance-counts", "GET"): ((401, 200, 200, 200, 200), None),
    # The audit log: tenant admins only.
    ("audit-list", "GET"): ((401, 403, 403, 403, 200), None),
    # `/` redirects (any method); the Studio's pages need a browser session, so a bearer token
    # alone is sent to the sign-in page; the sign-in form itself is public.
    ("home", "GET"): ((302, 302, 302, 302, 302), None),
    ("home", "POST"): ((302, 302, 302, 302, 302), None),
    ("home", "PUT"): ((302, 302, 302, 302, 302), None),
    ("home", "PATCH"): ((302, 302, 302, 302, 302), None),
    ("home", "DELETE"): ((302, 302, 302, 302, 302), None),
    ("app", "GET"): ((302, 302, 302, 302, 302), None),
    ("login", "GET"): ((200, 200, 200, 200, 200), None),
    ("login", "POST"): ((200, 200, 200, 200, 200), None),
    ("login", "PUT"): ((200, 200, 200, 200, 200), None),
    ("logout", "POST"): ((302, 302, 302, 302, 302), None),
}
# A PUT of a secret with another tenant's secret name creates one of that name in the
# caller's own tenant (names are per tenant): 201, never a write to the other tenant.

# Function views and the admin: the methods the table covers (class-based views: their
# handlers).
FUNCTION_VIEW_METHODS = {"healthz": ["GET"], "readyz": ["GET"], "metrics": ["GET"],
                         "hook": ["GET", "POST"], "admin": ["GET"]}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                yield "admin", prefix + str(pattern.pattern), None
                continue
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield pattern.name, prefix + str(pattern.pattern), pattern.callback


def routes() -> list[tuple[str, str]]:
    """(name, method) of every route the URL configuration serves."""
    found = []
    for name, _, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view_class is None:
            methods = FUNCTION_VIEW_METHODS.get(name, ["GET"])
        else:
            methods = [m.upper() for m in view_class.http_method_names
                       if m not in ("options", "head") and hasattr(view_class, m)]
        found += [(name, method) for method in methods]
    return found


def test_every_route_is_in_the_table():
    served = set(routes())
    assert served - set(MATRIX) == set(), "routes missing from MATRIX (decide who may call them)"
    assert set(MATRIX) - served == set(), "MATRIX lists routes that no longer exist"


class World:
    """Two tenants with the same kinds of objects; users of every role in the first."""

    def __init__(self):
        from workflows.models import Bookmark, DeadLetter
        from workflows.services.definitions import definition_create, definition_publish
        from workflows.services.inline import instance_execute
        from workflows.services.secrets import secret_create

        self.clients = {"anonymous": APIClient()}
        acme = TenantFactory(slug="acme")
        for role in ROLES[1:]:
            self.clients[role] = client_for(
                MembershipFactory(tenant=acme, role=role, user__username=f"m-{role}").user)
        self.ids = {}
        for tenant_label, tenant in (("own", acme), ("other", TenantFactory(slug="globex"))):
            # Different names in the other tenant, so that its ids cannot match ours by chance.
            own = tenant_label == "own"
            definition_id = "order-approval" if own else "globex-approval"
            secret_name = "TOKEN" if own else "GLOBEX_TOKEN"
            author = UserFactory(username=f"author-{tenant.slug}")
            MembershipFactory(tenant=tenant, user=author, role="editor")
            definition_create(tenant=tenant, user=author,
                              body={**ORDER_APPROVAL, "definition_id": definition_id})
            definition_publish(tenant=tenant, user=author, definition_id=definition_id)
            waiting = instance_execute(tenant=tenant, definition_id=definition_id,
                                       input={"order_id": "A", "amount": 5000},
                                       correlation_id=f"{tenant.slug}-a")
            bookmark = Bookmark.objects.get(instance=waiting)
            letter = DeadLetter.objects.create(
                tenant=tenant, instance=waiting, queue="workflow-tasks",
                message_id=f"m-{tenant.slug}", task_name="weft.run_step",
                received_at=timezone.now())
            secret_create(tenant=tenant, name=secret_name, value=f"{tenant.slug}-secret-value")
            self.ids[tenant_label] = {
                "tenant": tenant.slug, "definition_id": definition_id, "version": 1,
                "instance_id": waiting.id, "bookmark_id": bookmark.id,
                "dead_letter_id": letter.id, "name": secret_name, "path": "nothing-here",
                "username": author.username,
            }

    def other_tenant_markers(self) -> list[str]:
        ids = self.ids["other"]
        return [str(ids[key]) for key in ("instance_id", "bookmark_id", "dead_letter_id",
                                          "definition_id", "name", "username")] + [
            "globex-secret-value", "globex"]

    def url(self, route: str, which: str) -> str:
        from django.urls import reverse

        if route == "admin":
            return "/admin/"
        if route == "app":  # a Studio deep link (the page loads, then reads the API)
            return "/studio/instances"
        ids = self.ids[which]
        pattern = next(p for n, p, _ in _walk(get_resolver().url_patterns) if n == route)
        kwargs = {key: ids[key] for key in ids if f"<{key}>" in pattern or f":{key}>" in pattern}
        if route == "event-publish":
            kwargs = {"name": "order-approved"}
        return reverse(route, kwargs=kwargs)


def call(client: APIClient, method: str, url: str, body):
    """One request whose writes are rolled back, so that every role meets the same world."""
    from django.core.cache import cache

    with transaction.atomic():
        response = getattr(client, method.lower())(url, body, format="json") \
            if body is not None else getattr(client, method.lower())(url)
        transaction.set_rollback(True)
    cache.clear()  # nothing cached from rolled-back rows
    return response


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method"), sorted(MATRIX))
def test_route_answers_each_role_as_the_table_says(route, method):
    world = World()
    expected_own, expected_other = MATRIX[(route, method)]
    body = _bodies(route)
    seen_own, seen_other = [], []
    for role in ROLES:
        client = world.clients[role]
        response = call(client, method, world.url(route, "own"), body)
        seen_own.append(response.status_code)
        # Whatever an answer holds, nothing of the other tenant is in it. `/metrics` is the
        # exception by design: the platform operator's fleet view, labelled by definition id
        # across tenants, scraped from inside the network (README: Watching it).
        text = response.content.decode(errors="replace") if route != "metrics" else ""
        for leaked in world.other_tenant_markers():
            assert leaked not in text, f"{method} {route} as {role} shows {leaked}"
        if expected_other is not None:
            seen_other.append(call(client, method, world.url(route, "other"), body).status_code)
    assert tuple(seen_own) == expected_own, f"{method} {route}: own tenant"
    if expected_other is not None:
        # Another tenant's ids: whoever passes the role check finds nothing there.
        allowed = [code not in (401, 403) for code in expected_own]
        wanted = tuple(expected_other if ok else code for ok, code in zip(allowed, expected_own,
                                                                          strict=True))
        assert tuple(seen_other) == wanted, f"{method} {route}: another tenant's ids"
