"""The lists and look-ups that grow with data, on a few thousand seeded rows (ANALYZEd): every
query a real request issues (captured through the test client) is planned by PostgreSQL on an
index, never a sequential scan of a big table; the admin's lists count nothing unbounded; list
pages do not read the instance's engine state.

The plans are PostgreSQL's own (`EXPLAIN (FORMAT JSON)` of the captured SQL), so a test fails
when an index that a filter needs is dropped, or a query stops matching it."""

import json
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory, definition_body
from workflows.services.definitions import definition_create, definition_publish
from workflows.services.records import bookmark_hash

pytestmark = pytest.mark.django_db

BIG_TABLES = {f"workflows_{name}" for name in (
    "workflowinstance", "journalentry", "activityexecution", "bookmark", "step", "auditentry",
    "deadletter")}
INSTANCES = 4000
STATUSES = ["pending", "running", "suspended", "finished", "cancelled", "faulted"]


def _seed(tenant, other_tenant, version_id: int) -> dict:
    """Rows in bulk (SQL), one instance in four for `tenant` (the other tenant's rows are
    what an index on the tenant leaves out); returns ids the tests ask about."""
    parent, busy = uuid.uuid4(), uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO workflows_workflowinstance
                (id, tenant_id, definition_version_id, definition_id, version, status,
                 correlation_id, input, output, variables, state, created_at, updated_at,
                 finished_at, held, held_by, parent_id)
            SELECT CASE WHEN i = 0 THEN %(parent)s::uuid WHEN i = 4 THEN %(busy)s::uuid
                        ELSE gen_random_uuid() END,
                   CASE WHEN i %% 4 = 0 THEN %(tenant)s ELSE %(other)s END, %(version)s,
                   'def-' || (i %% 20), 1, (%(statuses)s::text[])[1 + i %% 6], 'c-' || i,
                   '{}', '{}', '{}', jsonb_build_object('big', repeat('x', 3000)),
                   now() - make_interval(secs => i), now(),
                   CASE WHEN i %% 6 >= 3 THEN now() END, false, '',
                   CASE WHEN i BETWEEN 8 AND 47 THEN %(parent)s::uuid END
              FROM generate_series(0, %(n)s - 1) AS i
        """, {"parent": str(parent), "busy": str(busy), "tenant": tenant.pk,
              "other": other_tenant.pk, "version": version_id, "n": INSTANCES,
              "statuses": STATUSES})
        # The journal and executions: 3000 rows of one busy instance, 2 of every other.
        cursor.execute("""
            INSERT INTO workflows_journalentry
                (instance_id, sequence, event, activity_id, activity_type, message, timestamp,
                 instance_created_at)
            SELECT %(busy)s::uuid, s, 'completed', 'a' || s, 'WriteLine', '', now(),
                   (SELECT created_at FROM workflows_workflowinstance WHERE id = %(busy)s::uuid)
              FROM generate_series(1, 3000) AS s
            UNION ALL
            SELECT i.id, s, 'started', 'a', 'WriteLine', '', now(), i.created_at
              FROM workflows_workflowinstance i, generate_series(1, 2) AS s
             WHERE i.id <> %(busy)s::uuid
        """, {"busy": str(busy)})
        cursor.execute("""
            INSERT INTO workflows_activityexecution
                (instance_id, key, activity_id, activity_type, status, attempt, traceback,
                 started_at, instance_created_at)
            SELECT %(busy)s::uuid, 'k' || s, 'a' || s, 'WriteLine', 'completed', 1, '', now(),
                   (SELECT created_at FROM workflows_workflowinstance WHERE id = %(busy)s::uuid)
              FROM generate_series(1, 3000) AS s
            UNION ALL
            SELECT i.id, 'k' || s, 'a', 'WriteLine', 'completed', 1, '', now(), i.created_at
              FROM workflows_workflowinstance i, generate_series(1, 2) AS s
             WHERE i.id <> %(busy)s::uuid
        """, {"busy": str(busy)})
        # 3000 instances wait for the same event, each with its own correlation id; 500 wait
        # on the same HTTP route, each with its own.
        cursor.execute("""
            INSERT INTO workflows_bookmark
                (id, tenant_id, instance_id, key, activity_id, activity_type, name, hash,
                 correlation_id, data, created_at)
            SELECT gen_random_uuid(), i.tenant_id, i.id, 'wait', 'approve', b.type, b.name,
                   encode(sha256(convert_to(b.name, 'UTF8') || '\\x00'::bytea
                                 || convert_to(i.correlation_id, 'UTF8')), 'hex'),
                   i.correlation_id, jsonb_build_object('kind', b.kind, 'methods',
                                                        jsonb_build_array('POST')), now()
              FROM workflows_workflowinstance i
              JOIN LATERAL (SELECT CASE WHEN i.created_at > now() - interval '500 seconds'
                                        THEN 'http' ELSE 'event' END AS kind) k ON true
              JOIN LATERAL (SELECT k.kind,
                                   CASE k.kind WHEN 'http' THEN 'orders/{id}/approve'
                                               ELSE 'order-approved' END AS name,
                                   CASE k.kind WHEN 'http' THEN 'HttpEndpoint'
                                               ELSE 'Event' END AS type) b ON true
             WHERE i.status = 'suspended' OR i.created_at > now() - interval '3000 seconds'
        """)
        cursor.execute("""
            INSERT INTO workflows_step
                (id, tenant_id, instance_id, kind, status, queue, payload, attempt, run_after,
                 published_at, sent_at, publish_count, deliveries, finished_at, created_at)
            SELECT gen_random_uuid(), i.tenant_id, i.id, 'run', 'done', 'default', '{}', 1,
                   now() - interval '1 hour', now(), now(), 1, 1, now(), now()
              FROM workflows_workflowinstance i
        """)
        cursor.execute("""
            INSERT INTO workflows_auditentry
                (at, tenant_id, tenant_slug, actor, action, target_type, target_id, summary,
                 details, request_id, client_address, via)
            SELECT now() - make_interval(secs => s), %(tenant)s, 'acme', 'user-' || (s %% 7),
                   (ARRAY['instance.cancel', 'definition.publish', 'event.publish'])[1 + s %% 3],
                   'instance', 't' || s, '', '{}', '', '', 'api'
              FROM generate_series(1, 4000) AS s
        """, {"tenant": tenant.pk})
        cursor.execute("""
            INSERT INTO workflows_deadletter
                (id, tenant_id, queue, message_id, task_name, body, receive_count, received_at)
            SELECT gen_random_uuid(), CASE WHEN s %% 4 = 3 THEN %(other)s ELSE %(tenant)s END,
                   'workflow-tasks', 'm' || s, 'weft.run_step', '{}', 3,
                   now() - make_interval(secs => s)
              FROM generate_series(1, 3000) AS s
        """, {"tenant": tenant.pk, "other": other_tenant.pk})
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")
    return {"parent": parent, "busy": busy}


@pytest.fixture
def seeded(tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role="admin")
    definition_create(tenant=tenant, user=user, body=definition_body())
    published = definition_publish(tenant=tenant, user=user, definition_id="hello")
    ids = _seed(tenant, other_tenant, published.pk)
    return {**ids, "client": client_for(user), "user": user}


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _parent(name: str) -> str:
    """A partition's (or a partition's index's) parent; any other relation itself. The journal
    and the executions are partitioned on PostgreSQL: plans name their partitions."""
    if not name:
        return name
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhparent::regclass::text FROM pg_inherits "
                       "WHERE inhrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return row[0] if row else name


def _empty_partition(name: str) -> bool:
    """A partition with no row (a month to come): whatever the plan, nothing is read. Asked of
    the rows themselves: statistics outlive the tests' rolled-back rows."""
    if _parent(name) == name:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT NOT EXISTS (SELECT 1 FROM "{name}")')  # a name from the plan
        return cursor.fetchone()[0]


def big_table_scans(captured) -> list[tuple[str, str, str]]:
    """(node type, table, index) of every scan of a big table in the captured SELECTs."""
    scans = []
    for query in captured:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "WITH", "DELETE", "UPDATE")):
            continue
        for node in _nodes(_plan(sql)):
            if node.get("Relation Name") and _empty_partition(node["Relation Name"]):
                continue  # a month to come: nothing to read, whatever the plan
            relation = _parent(node.get("Relation Name", ""))
            if relation in BIG_TABLES and "Index Name" not in node:
                scans.append((node["Node Type"], relation, ""))
            elif node.get("Index Name"):  # a bitmap index scan names only its index
                scans.append((node["Node Type"], relation, _parent(node["Index Name"])))
    return scans


def assert_indexed(captured, *, expect: set[str] = frozenset()) -> set[str]:
    """No sequential scan of a big table; one of `expect` (if any) among the indexes used."""
    scans = big_table_scans(captured)
    assert scans, "no query read a big table"
    sequential = [scan for scan in scans if scan[0] == "Seq Scan"]
    assert not sequential, f"sequential scans: {sequential} in " + "\n".join(
        q["sql"] for q in captured)
    used = {index for _, _, index in scans if index}
    assert not expect or expect & used, f"expected one of {expect}, planned {used}"
    return used


def get(client, path, params=None, status=200):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {})
    assert response.status_code == status, response.content
    return response.json(), captured


# ---- the API's lists ---------------------------------------------------------------------------


# With few tenants the planner may walk instance_created (every tenant's, newest first) and
# skip the other tenants' rows: an index scan that stops after the page, as good.
RECENT = {"instance_recent", "instance_created"}


@pytest.mark.parametrize(("params", "index"), [
    ({}, RECENT),
    ({"status": "pending"}, {"instance_status", *RECENT}),
    ({"definition_id": "def-8"}, "instance_definition_recent"),
    ({"definition_id": "def-8", "status": "cancelled"}, "instance_definition_status"),
    ({"definition_id": "def-8", "version": "1"},
     {"instance_definition_recent", "instance_definition_status"}),
    ({"correlation_id": "c-40"}, "instance_correlation"),
    ({"parent_id": "PARENT"}, "instance_parent"),
    ({"created_after": "2000-01-01T00:00:00Z", "created_before": "2100-01-01T00:00:00Z"},
     RECENT),
    ({"status": "pending", "created_after": "2000-01-01T00:00:00Z"},
     {"instance_status", *RECENT}),
])
def test_every_instance_list_filter_is_an_index_scan(seeded, params, index):
    params = {key: str(seeded["parent"]) if value == "PARENT" else value
              for key, value in params.items()}
    expect = index if isinstance(index, set) else {index}
    page, captured = get(seeded["client"], "/api/v1/instances/", params)
    assert page["results"] and "count" not in page
    assert_indexed(captured, expect=expect)
    if page["next"]:  # the next page is an index range from the cursor too
        _, captured = get(seeded["client"], page["next"])
        assert_indexed(captured, expect=expect)


def test_instance_pages_follow_each_other_without_gaps_or_repeats(seeded):
    client, seen, url = seeded["client"], [], "/api/v1/instances/"
    params = {"definition_id": "def-8", "limit": 40}
    while url:
        page, _ = get(client, url, params)
        seen += [row["id"] for row in page["results"]]
        url, params = page["next"], None
    assert len(seen) == len(set(seen)) == INSTANCES // 20
    created = [row["created_at"] for row in
               get(client, "/api/v1/instances/", {"definition_id": "def-8", "limit": 500})[0]
               ["results"]]
    assert created == sorted(created, reverse=True)


def test_an_offset_is_refused_on_a_keyset_list(seeded):
    body, _ = get(seeded["client"], "/api/v1/instances/", {"offset": 50}, status=400)
    assert body["error"]["details"]["errors"][0]["path"] == "offset"


def test_the_instance_list_never_reads_the_engine_state(seeded):
    _, captured = get(seeded["client"], "/api/v1/instances/", {"limit": 500})
    selects = [q["sql"] for q in captured if "workflows_workflowinstance" in q["sql"]]
    assert selects and not any('"workflows_workflowinstance"."state"' in sql for sql in selects)
    assert not any('"http_response"' in sql for sql in selects)


@pytest.mark.parametrize(("suffix", "index"), [
    ("journal/", "journal_unique_seq"),
    # Two rows of one instance: either index of that instance's month will do.
    ("activity-executions/", {"execution_instance", "execution_unique_key"}),
])
def test_an_instance_s_records_page_by_index(seeded, suffix, index):
    page, captured = get(seeded["client"], f"/api/v1/instances/{seeded['parent']}/{suffix}")
    assert len(page["results"]) == 2 and "count" not in page
    assert_indexed(captured, expect={index} if isinstance(index, str) else index)
    # 3000 rows of one instance, page by page.
    url = f"/api/v1/instances/{seeded['busy']}/{suffix}"
    page, captured = get(seeded["client"], url, {"limit": 100})
    assert len(page["results"]) == 100
    assert_indexed(captured)
    rows = page["results"]
    while page["next"]:
        page, captured = get(seeded["client"], page["next"])
        rows += page["results"]
    assert_indexed(captured)
    assert len(rows) == 3000
    if suffix == "journal/":
        assert [row["sequence"] for row in rows] == list(range(1, 3001))


@pytest.mark.parametrize("params", [
    {}, {"action": "instance.cancel"}, {"action": "instance."}, {"actor": "user-3"},
    {"target_type": "instance", "target_id": "t17"},
    {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
])
def test_every_audit_filter_is_an_index_scan(seeded, params):
    page, captured = get(seeded["client"], "/api/v1/audit/", params)
    assert page["results"]
    assert_indexed(captured)


def test_dead_letters_page_by_index(seeded):
    page, captured = get(seeded["client"], "/api/v1/dead-letters/")
    assert len(page["results"]) == 50 and page["next"] and "count" not in page
    assert_indexed(captured, expect={"deadletter_recent"})


@pytest.mark.parametrize("params", [{}, {"definition_id": "def-8"}, {"correlation_id": "c-40"},
                                    {"created_after": "2000-01-01T00:00:00Z"}])
def test_counts_by_status_read_a_bounded_number_of_index_entries(seeded, params, settings):
    from workflows.models import WorkflowInstance
    from workflows.selectors.estimates import EXACT_UP_TO

    body, captured = get(seeded["client"], "/api/v1/instances/counts/", params)
    assert_indexed(captured)
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)
    # 1,000 instances of acme: under the bound, every count is exact.
    exact = WorkflowInstance.objects.filter(tenant__slug="acme")
    if params.get("definition_id"):
        exact = exact.filter(definition_id=params["definition_id"])
    if params.get("correlation_id"):
        exact = exact.filter(correlation_id=params["correlation_id"])
    assert body["approximate"] == [] and body["total"] == exact.count() <= EXACT_UP_TO


def test_counts_above_the_bound_are_the_planner_s_estimate(seeded, tenant):
    from workflows.selectors.instance_counts import instance_counts_by_status

    with CaptureQueriesContext(connection) as captured:
        counts, approximate = instance_counts_by_status(tenant=tenant, up_to=100)
    # acme has 1,000 instances: a third each pending, suspended and cancelled.
    assert sorted(approximate) == ["cancelled", "pending", "suspended"]
    assert all(counts[status] > 100 for status in approximate)
    assert counts["running"] == counts["finished"] == counts["faulted"] == 0
    assert not any("COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()
                   for q in captured)


# ---- waits found by their hash ----------------------------------------------------------------


def test_an_event_finds_its_waits_by_hash_not_by_scanning_the_name(seeded, tenant):
    from workflows.services.bookmarks import bookmarks_claim_for_event

    waiting = {str(i) for i in _waiting(tenant, "Event")}
    target = sorted(waiting)[0]
    correlation_id = _correlation_of(target)
    with CaptureQueriesContext(connection) as captured:
        resumed, steps = bookmarks_claim_for_event(tenant=tenant, name="order-approved",
                                                   correlation_id=correlation_id)
    assert resumed == [target] and len(steps) == 1
    assert_indexed(captured, expect={"bookmark_stimulus"})


def test_an_http_request_finds_its_waits_by_route_and_hash(seeded, tenant):
    from workflows.services.hooks import _http_waits_for

    waiting = sorted(str(i) for i in _waiting(tenant, "HttpEndpoint"))
    correlation_id = _correlation_of(waiting[0])
    with CaptureQueriesContext(connection) as captured:
        found = list(_http_waits_for(tenant, f"orders/{correlation_id}/approve", {}))
    assert [str(b.instance_id) for b in found] == [waiting[0]]
    assert_indexed(captured, expect={"bookmark_http_route", "bookmark_stimulus"})


def _waiting(tenant, activity_type: str):
    from workflows.models import Bookmark

    return Bookmark.objects.filter(tenant=tenant, activity_type=activity_type).values_list(
        "instance_id", flat=True)


def _correlation_of(instance_id: str) -> str:
    from workflows.models import WorkflowInstance

    return WorkflowInstance.objects.values_list("correlation_id", flat=True).get(pk=instance_id)


def test_the_seeded_hash_is_the_one_the_runtime_computes(seeded, tenant):
    from workflows.models import Bookmark

    bookmark = Bookmark.objects.filter(tenant=tenant).first()
    assert bookmark.hash == bookmark_hash(bookmark.name, bookmark.correlation_id)


# ---- deletes through the indexes that replaced the foreign keys' own ---------------------------


def test_deleting_an_instance_finds_its_rows_by_index(seeded, tenant, member_client):
    from workflows.models import WorkflowInstance

    finished = WorkflowInstance.objects.filter(tenant=tenant, status="cancelled").exclude(
        pk__in=[seeded["parent"], seeded["busy"]]).values_list("pk", flat=True).first()
    operator = member_client("operator")
    with CaptureQueriesContext(connection) as captured:
        assert operator.delete(f"/api/v1/instances/{finished}/").status_code == 204
    assert any(q["sql"].startswith("DELETE") for q in captured)
    assert_indexed(captured)


# ---- the sweeper ------------------------------------------------------------------------------


def test_the_sweeper_scans_its_partial_indexes_only(seeded):
    from workflows.services.sweeper import steps_sweep

    with CaptureQueriesContext(connection) as captured:
        assert steps_sweep() == {"published": 0, "revived": 0, "dead": 0}
    used = assert_indexed(captured)
    assert used <= {"step_leased", "step_unsent", "step_due", "workflows_workflowinstance_pkey"}
    assert {"step_leased", "step_unsent"} <= used


# ---- the admin --------------------------------------------------------------------------------


def admin_get(path: str, params=None) -> tuple:
    """(response, captured queries) of `path` read by a superuser through the admin."""
    superuser = UserFactory(username=f"root-{uuid.uuid4().hex[:8]}")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    browser = Client()
    browser.force_login(superuser)
    with CaptureQueriesContext(connection) as captured:
        response = browser.get(path, params or {})
    return response, captured


@pytest.mark.parametrize("model", ["workflowinstance", "journalentry", "activityexecution",
                                   "step", "auditentry", "deadletter", "incident",
                                   "triggerfire"])
def test_admin_lists_of_big_tables_count_nothing_unbounded(seeded, model):
    response, captured = admin_get(f"/admin/workflows/{model}/")
    assert response.status_code == 200
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert all("LIMIT" in sql.upper() for sql in counts), counts
    assert not [q["sql"] for q in captured if "DISTINCT" in q["sql"].upper()]
    if model == "workflowinstance":
        assert not any('"workflows_workflowinstance"."state"' in q["sql"] for q in captured)
        # Every read of the table but the bounded count (a Limit that stops at 1001 rows).
        assert_indexed([q for q in captured if "workflows_workflowinstance" in q["sql"]
                        and "COUNT(" not in q["sql"].upper()])


def test_the_admin_says_about_how_many_beyond_the_exact_bound(seeded):
    from workflows.admin_paging import EstimatedCountPaginator
    from workflows.models import JournalEntry
    from workflows.selectors.estimates import EXACT_UP_TO

    small = EstimatedCountPaginator(JournalEntry.objects.filter(instance_id=seeded["parent"]),
                                    100)
    assert small.count == 2
    big = EstimatedCountPaginator(JournalEntry.objects.all(), 100)
    with CaptureQueriesContext(connection) as captured:
        assert big.count > EXACT_UP_TO
    # A bounded count, then the planner's estimate (EXPLAIN: statistics, not the table).
    assert not any("COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()
                   for q in captured)
    assert any(q["sql"].startswith("EXPLAIN") for q in captured)


@pytest.mark.parametrize(("model", "params"), [
    ("journalentry", {}),
    ("journalentry", {"p": "20"}),
    ("journalentry", {"event__exact": "started"}),
    ("journalentry", {"o": "5"}),  # by the Time column (0-based), oldest first
    ("journalentry", {"o": "-5"}),
    ("activityexecution", {}),
    ("activityexecution", {"p": "20"}),
    ("activityexecution", {"status__exact": "faulted"}),
    ("activityexecution", {"o": "6"}),  # by the Started column, oldest first
])
def test_admin_pages_of_the_journal_and_executions_walk_an_index_without_sorting(
        seeded, model, params):
    """A page of the two biggest tables, deep or filtered, is a merge of the partitions'
    primary keys read backwards: no sort of the table, no join to the instances."""
    with connection.cursor() as cursor:  # more than a page fault (a page or less: no LIMIT)
        cursor.execute("UPDATE workflows_activityexecution SET status = 'faulted' "
                       "WHERE id % 25 = 0")
        cursor.execute("ANALYZE workflows_activityexecution")
    response, captured = admin_get(f"/admin/workflows/{model}/", params)
    assert response.status_code == 200
    table = f"workflows_{model}"
    pages = [q for q in captured if q["sql"].startswith("SELECT")
             and f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]
             and "COUNT(" not in q["sql"].upper()]
    assert pages, [q["sql"] for q in captured]
    for query in pages:
        assert "workflows_workflowinstance" not in query["sql"], query["sql"]
        nodes = list(_nodes(_plan(query["sql"])))
        assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")], \
            query["sql"]
    assert_indexed(pages, expect={f"{table}_pkey"})
    order = params.get("o", "")
    direction = "ASC" if order and not order.startswith("-") else "DESC"  # newest first
    # The page itself (a filter's choices are sampled newest first whatever the page's order).
    assert any(f'ORDER BY "{table}"."id" {direction} LIMIT 50' in q["sql"] for q in pages), \
        [q["sql"] for q in pages]
