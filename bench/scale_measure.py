"""List pages of `bench.scale`: the REST API and the admin, timed in this process.

Every page is requested through Django's full stack (middleware, authentication, the view, the
serializer or the admin's template) with Django's test client: the API as a viewer of the
biggest tenant with a bearer token, the admin as a superuser. Samples of all pages are taken
round-robin (one of each, then again), so that a change in the machine's load falls on every
page alike. Besides the wall-clock time, each request's SQL statements and the time spent in
them are counted (Django's query log).

Pagination is discovered from the answers, not assumed: pages after the first are reached by
following `next`; a page number or offset is jumped to only when the answer says it takes one
(`count` and an `offset` in `next`).
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

TARGET_MS = 100.0
API = "/api/v1"
ADMIN = "/admin/workflows"
CHAIN_DEPTH = 20  # pages followed through `next` before starting again from a first page


@dataclass
class Measure:
    name: str
    group: str  # "API" or "admin"
    url: Callable[[random.Random], str | None] | None = None
    chain: Chain | None = None
    times: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sql_times: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str = ""
    slowest: list[tuple[float, str]] = field(default_factory=list)  # per request

    @property
    def p50(self) -> float:
        return statistics.median(self.times) * 1000 if self.times else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.times, 0.95) * 1000 if self.times else float("nan")

    @property
    def max(self) -> float:
        return max(self.times) * 1000 if self.times else float("nan")

    @property
    def met(self) -> bool:
        return bool(self.times) and not self.errors and self.p95 <= TARGET_MS


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def local(url: str | None) -> str | None:
    """The path and query of an absolute `next` link (the test client takes those)."""
    if not url:
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Chain:
    """Pages reached by following `next` from a first page, up to CHAIN_DEPTH deep, then again
    from another first page. Only the followed pages are samples."""

    def __init__(self, start: Callable[[random.Random], str]) -> None:
        self.start = start
        self.pending: str | None = None
        self.depth = 0

    def url(self, client, rng: random.Random) -> str | None:
        for _ in range(5):
            if self.pending and self.depth < CHAIN_DEPTH:
                return self.pending
            response = client.get(self.start(rng))
            data = response.json() if response.status_code == 200 else {}
            self.pending, self.depth = local(data.get("next")), 1
        return None

    def seen(self, data: dict) -> None:
        self.pending = local(data.get("next"))
        self.depth += 1


@dataclass
class Clients:
    api: object
    admin: object


def clients(seeded) -> Clients:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    users = get_user_model().objects
    slug = seeded.big_tenant[1]
    prefix = slug.rsplit("-", 1)[0]
    viewer = users.get(username=f"{prefix}-viewer0")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(viewer).access_token}",
                    HTTP_X_WEFT_TENANT=slug)
    admin = Client()
    admin.force_login(users.get(username=f"{prefix}-admin"))
    return Clients(api=api, admin=admin)


def _offset_pages(client, url: str) -> int | None:
    """How many rows a jump by `offset` can reach, when the answer offers offsets."""
    response = client.get(url)
    if response.status_code != 200:
        return None
    data = response.json()
    following = data.get("next") or ""
    if isinstance(data.get("count"), int) and "offset" in parse_qs(urlsplit(following).query):
        return data["count"]
    return None


def measures(seeded, api_client) -> list[Measure]:
    """What is measured, in the order of the report."""
    from django.utils import timezone

    big_tenant = 0
    definitions = [d.definition_id for d in seeded.definitions_of(big_tenant)]
    popular = definitions[:3]
    now = timezone.now()
    normal, long = seeded.normal_ids, seeded.long_ids or seeded.normal_ids

    def q(path: str, **params) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    def months_ago(rng: random.Random) -> str:
        return (now - timedelta(days=rng.uniform(7, 170))).isoformat()

    out = [
        Measure("instances, first page", "API", lambda r: q(f"{API}/instances/")),
        Measure("instances, status=finished", "API",
                lambda r: q(f"{API}/instances/", status="finished")),
        Measure("instances, status=faulted", "API",
                lambda r: q(f"{API}/instances/", status="faulted")),
        Measure("instances, status=running (recent ones only)", "API",
                lambda r: q(f"{API}/instances/", status="running")),
        Measure("instances, definition_id (one of 3 busiest)", "API",
                lambda r: q(f"{API}/instances/", definition_id=r.choice(popular))),
        Measure("instances, definition_id (a quiet one)", "API",
                lambda r: q(f"{API}/instances/", definition_id=r.choice(definitions[3:] or
                                                                         definitions))),
        Measure("instances, definition_id + status=faulted", "API",
                lambda r: q(f"{API}/instances/", definition_id=r.choice(popular),
                            status="faulted")),
        Measure("instances, created_before 1 week to 6 months ago", "API",
                lambda r: q(f"{API}/instances/", created_before=months_ago(r))),
        Measure(f"instances, pages 2-{CHAIN_DEPTH} through `next`", "API",
                chain=Chain(lambda r: r.choice([
                    q(f"{API}/instances/"), q(f"{API}/instances/", status="finished"),
                    q(f"{API}/instances/", definition_id=r.choice(popular))]))),
    ]
    count = _offset_pages(api_client, q(f"{API}/instances/"))
    if count:
        out.append(Measure("instances, a deep page by offset (anywhere in the list)", "API",
                           lambda r: q(f"{API}/instances/",
                                       offset=r.randrange(0, max(1, count - 50)))))
    else:
        out.append(Measure("instances, a deep page by offset (anywhere in the list)", "API",
                           note="not offered (no `count`/`offset`: cursor pagination); "
                                "deep pages are the `next` chain above"))
    out += [
        Measure("journal of an instance, first page", "API",
                lambda r: f"{API}/instances/{r.choice(normal)}/journal/"),
        Measure("journal of a long instance (300-1,500 entries), first page", "API",
                lambda r: f"{API}/instances/{r.choice(long)}/journal/"),
        Measure("journal of a long instance, next pages", "API",
                chain=Chain(lambda r: f"{API}/instances/{r.choice(long)}/journal/")),
        Measure("activity executions of an instance, first page", "API",
                lambda r: f"{API}/instances/{r.choice(normal)}/activity-executions/"),
        Measure("activity executions of a long instance, first page", "API",
                lambda r: f"{API}/instances/{r.choice(long)}/activity-executions/"),
        Measure("activity executions of a long instance, next pages", "API",
                chain=Chain(lambda r: f"{API}/instances/{r.choice(long)}/activity-executions/")),
    ]
    tenant_pk = seeded.big_tenant[0]
    pages = admin_pages(seeded)
    out += [
        Measure("instances, first page", "admin",
                lambda r: f"{ADMIN}/workflowinstance/"),
        Measure("instances, status=faulted", "admin",
                lambda r: q(f"{ADMIN}/workflowinstance/", status__exact="faulted")),
        Measure("instances, tenant + definition", "admin",
                lambda r: q(f"{ADMIN}/workflowinstance/", tenant__id__exact=tenant_pk,
                            definition_id__exact=r.choice(popular))),
        Measure(f"instances, page 2-{pages['instance']}", "admin",
                lambda r: q(f"{ADMIN}/workflowinstance/", p=r.randint(2, pages["instance"]))),
        Measure("journal, first page", "admin", lambda r: f"{ADMIN}/journalentry/"),
        Measure("journal, event=log", "admin",
                lambda r: q(f"{ADMIN}/journalentry/", event__exact="log")),
        Measure(f"journal, page 2-{pages['journal']}", "admin",
                lambda r: q(f"{ADMIN}/journalentry/", p=r.randint(2, pages["journal"]))),
        Measure("activity executions, first page", "admin",
                lambda r: f"{ADMIN}/activityexecution/"),
        Measure("activity executions, status=faulted", "admin",
                lambda r: q(f"{ADMIN}/activityexecution/", status__exact="faulted")),
        Measure(f"activity executions, page 2-{pages['execution']}", "admin",
                lambda r: q(f"{ADMIN}/activityexecution/", p=r.randint(2, pages["execution"]))),
    ]
    return out


def admin_pages(seeded, deepest: int = 200) -> dict[str, int]:
    """How deep the admin's deep-page samples go: up to `deepest`, within what was seeded."""
    from django.contrib import admin

    from workflows.models import ActivityExecution, JournalEntry, WorkflowInstance

    out = {}
    for name, model in (("instance", WorkflowInstance), ("journal", JournalEntry),
                        ("execution", ActivityExecution)):
        rows = seeded.rows.get(model._meta.label) or model.objects.count()
        per_page = admin.site._registry[model].list_per_page
        out[name] = max(2, min(deepest, rows // per_page))
    return out


def _sample(measure: Measure, client, rng: random.Random, record: bool) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = measure.chain.url(client, rng) if measure.chain else measure.url(rng)
    if url is None:
        measure.errors.append("no page to follow")
        return
    with CaptureQueriesContext(connection) as captured:
        began = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        elapsed = time.perf_counter() - began
    rows = -1
    if response.status_code == 200 and measure.group == "API":
        data = response.json()
        results = data.get("results", data) if isinstance(data, dict) else data
        rows = len(results) if isinstance(results, list) else -1
        if measure.chain:
            measure.chain.seen(data)
    if not record:
        return
    if response.status_code != 200:
        measure.errors.append(f"{response.status_code} for {url}")
        return
    measure.times.append(elapsed)
    measure.queries.append(len(captured))
    measure.sql_times.append(sum(float(q.get("time") or 0) for q in captured))
    measure.rows.append(rows)
    if len(captured):
        worst = max(captured, key=lambda q: float(q.get("time") or 0))
        measure.slowest.append((float(worst.get("time") or 0), statement_shape(worst["sql"])))


def statement_shape(sql: str, length: int = 220) -> str:
    """A statement without its literals, column lists or table qualifiers, shortened: what the
    slowest statements have in common across requests."""
    shape = re.sub(r"'[^']*'", "?", sql)
    shape = re.sub(r"\b\d+(\.\d+)?\b", "?", shape)
    shape = re.sub(r"\s+", " ", shape).strip()
    shape = re.sub(r'"\w+"\.(")', r"\1", shape)  # "table"."column" -> "column"
    shape = re.sub(r"^SELECT (DISTINCT )?(?!COUNT)[^()]{40,}? FROM", r"SELECT \1... FROM", shape)
    return shape if len(shape) <= length else shape[:length] + "..."


def measure_lists(seeded, *, samples: int, seed: int = 7, warm_up: bool = True,
                  log: Callable[[str], None] = print) -> list[Measure]:
    """`samples` samples of every page (after one round of warming up), round-robin."""
    rng = random.Random(seed)
    both = clients(seeded)
    chosen = measures(seeded, both.api)
    active = [m for m in chosen if m.url or m.chain]
    first = 0 if warm_up else 1
    for n in range(first, samples + 1):
        for measure in active:
            client = both.api if measure.group == "API" else both.admin
            _sample(measure, client, rng, record=n > 0)
        if n and n % max(1, samples // 5) == 0:
            log(f"  list pages: {n} of {samples} rounds")
    return chosen


def slowest_markdown(chosen: list[Measure]) -> str:
    """For each page that missed the target: its most frequent slowest statement and the
    median time of that statement."""
    lines = []
    for m in chosen:
        if not m.times or m.met or not m.slowest:
            continue
        shape, _ = Counter(shape for _, shape in m.slowest).most_common(1)[0]
        times = [t for t, s in m.slowest if s == shape]
        lines.append(f"- {m.group}: {m.name}: {statistics.median(times) * 1000:.0f} ms median, "
                     f"`{shape}`")
    return "\n".join(lines)


def markdown(chosen: list[Measure]) -> str:
    lines = ["| page | p50 ms | p95 ms | max ms | SQL statements (median) | SQL ms p95 | rows "
             f"per page | p95 <= {TARGET_MS:.0f} ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in chosen:
        if not m.times:
            lines.append(f"| {m.group}: {m.name} | - | - | - | - | - | - | "
                         f"{m.note or '; '.join(sorted(set(m.errors))[:2]) or 'not measured'} |")
            continue
        verdict = "met" if m.met else "MISSED"
        if m.errors:
            verdict += f" ({len(m.errors)} errors, e.g. {m.errors[0]})"
        rows = [r for r in m.rows if r >= 0]
        lines.append(
            f"| {m.group}: {m.name} | {m.p50:.0f} | {m.p95:.0f} | {m.max:.0f} | "
            f"{statistics.median(m.queries):.0f} | "
            f"{percentile(m.sql_times, 0.95) * 1000:.0f} | "
            f"{statistics.median(rows):.0f} | {verdict} |" if rows else
            f"| {m.group}: {m.name} | {m.p50:.0f} | {m.p95:.0f} | {m.max:.0f} | "
            f"{statistics.median(m.queries):.0f} | "
            f"{percentile(m.sql_times, 0.95) * 1000:.0f} | (HTML) | {verdict} |")
    return "\n".join(lines)
