"""Studio at scale: a 1,000-activity definition on the canvas, the instance list at 10,000
instances.

Run with `python -m bench.studio` (needs PostgreSQL on 127.0.0.1:5432 and /usr/bin/chromium).
It makes its own database, a tenant with one definition of N activities (a Flowchart: a chain
with an `If` every tenth activity, both outcomes connected) and M instances of it spread over
every status, starts a real web server (gunicorn) on it and measures, in Chromium:

- layout: the ELK layout of the whole definition in the designer (the figure the designer
  records in `data-layout-ms`), and the time from navigation to a laid-out canvas;
- the instance list: navigation to a rendered first page with its counts, and the API calls the
  page makes (first page, a status filter, a deep page, counts), timed from this process through
  the same web server with the same session, medians over several runs.

Results are printed and written to the "Studio" section of bench/RESULTS.md.
"""

import argparse
import os
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.distributed import drop_database, migrate, recreate_database

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
PASSWORD = "bench-password-123"
STATUSES = ["finished"] * 6 + ["running", "suspended", "faulted", "cancelled"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--activities", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default=os.environ.get("WEFT_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args(argv)


def big_definition(definition_id: str, count: int) -> dict:
    activities, connections = [], []
    for index in range(count):
        if index % 10 == 5:
            activities.append({"id": f"a{index}", "type": "If",
                               "condition": {"expr": f"input.get('n', 0) > {index}"}})
        else:
            activities.append({"id": f"a{index}", "type": "WriteLine", "text": f"step {index}"})
    for index in range(count - 1):
        if index % 10 == 5:
            connections.append({"source": f"a{index}", "outcome": "true",
                                "target": f"a{index + 1}"})
            if index + 2 < count:
                connections.append({"source": f"a{index}", "outcome": "false",
                                    "target": f"a{index + 2}"})
        else:
            connections.append({"source": f"a{index}", "target": f"a{index + 1}"})
    return {"definition_id": definition_id, "name": f"{count} activities",
            "root": {"type": "Flowchart", "id": "main", "activities": activities,
                     "connections": connections}}


def seed(activities: int, instances: int):
    from django.utils import timezone

    from workflows.models import WorkflowInstance
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.tenancy import tenant_member_ensure

    membership = tenant_member_ensure(tenant_slug="bench", username="bench", role="admin",
                                      password=PASSWORD)
    tenant, user = membership.tenant, membership.user
    definition_create(tenant=tenant, user=user, body=big_definition("big", activities))
    published = definition_publish(tenant=tenant, user=user, definition_id="big")
    now = timezone.now()
    rows = [WorkflowInstance(
        tenant=tenant, definition_version=published, definition_id="big", version=1,
        status=STATUSES[index % len(STATUSES)], correlation_id=f"order-{index}",
        input={"n": index}) for index in range(instances)]
    WorkflowInstance.objects.bulk_create(rows, batch_size=2000)
    # Spread creation times over a month, as a real list would be.
    for offset, row in enumerate(rows):
        row.created_at = now - timedelta(minutes=offset * 4)
    WorkflowInstance.objects.bulk_update(rows, ["created_at"], batch_size=2000)
    return tenant


def timed(function, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def browser_figures(args, base_url: str) -> dict:
    from playwright.sync_api import sync_playwright

    figures = {"layout_ms": [], "canvas_ready_ms": [], "list_ready_ms": [], "api": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("bench")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("tr[data-instance]")
        for _ in range(args.runs):
            page.goto("/studio/operations")
            page.wait_for_selector("#workers-title")
            started = time.perf_counter()
            page.goto("/studio/definitions/big")
            page.wait_for_selector("#designer-canvas[data-ready=true]")
            figures["canvas_ready_ms"].append((time.perf_counter() - started) * 1000)
            figures["layout_ms"].append(float(page.get_attribute("#designer-canvas",
                                                                 "data-layout-ms")))
            nodes = page.locator("#activity-picker option").count() - 1
            figures["nodes"] = nodes
            page.goto("/studio/operations")
            page.wait_for_selector("#workers-title")
            started = time.perf_counter()
            page.goto("/studio/instances")
            page.wait_for_selector("tr[data-instance]")
            page.wait_for_selector(".count[data-status=finished]")
            figures["list_ready_ms"].append((time.perf_counter() - started) * 1000)
        figures["list_total"] = page.locator(".pager span").inner_text()
        headers = {"X-Weft-Tenant": "bench"}
        calls = {
            "first page (limit 25)": "/api/v1/instances/?limit=25",
            "status=faulted, first page": "/api/v1/instances/?limit=25&status=faulted",
            "deep page (offset 9,000)": "/api/v1/instances/?limit=25&offset=9000",
            "counts by status": "/api/v1/instances/counts/",
            "counts, one definition": "/api/v1/instances/counts/?definition_id=big",
        }
        for name, url in calls.items():
            def call(url=url):
                response = page.request.get(url, headers=headers)
                assert response.ok, (url, response.status)
            call()  # warm
            figures["api"][name] = timed(call, args.runs * 2)
        browser.close()
    return figures


def markdown(args, figures: dict, started: datetime) -> str:
    def median(values):
        return f"{statistics.median(values):,.0f} ms"

    def spread(values):
        return f"{min(values):,.0f} to {max(values):,.0f}"

    lines = [
        "## Studio (`python -m bench.studio`)", "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on this machine (load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs when it ended: shared with other "
        "work): gunicorn (2 workers) on PostgreSQL, Chromium headless via Playwright; "
        f"{args.runs} runs each (API calls: {args.runs * 2}).", "",
        "| measure | median | min to max |", "| --- | --- | --- |",
        f"| ELK layout of a {figures['nodes']:,}-activity Flowchart (designer's `data-layout-ms`)"
        f" | {median(figures['layout_ms'])} | {spread(figures['layout_ms'])} |",
        f"| designer: navigation to a laid-out {figures['nodes']:,}-activity canvas | "
        f"{median(figures['canvas_ready_ms'])} | {spread(figures['canvas_ready_ms'])} |",
        f"| monitor: navigation to the rendered instance list with counts "
        f"({args.instances:,} instances) | {median(figures['list_ready_ms'])} | "
        f"{spread(figures['list_ready_ms'])} |",
    ]
    for name, values in figures["api"].items():
        lines.append(f"| API `{name}` at {args.instances:,} instances | {median(values)} | "
                     f"{spread(values)} |")
    lines += ["", f"The list showed \"{figures['list_total']}\" (server-side pagination, 25 a "
              "page); counts are one grouped query on the (tenant, status, created) index.", ""]
    return "\n".join(lines)


def write_section(section: str) -> None:
    text = RESULTS.read_text()
    pattern = re.compile(r"## Studio \(`python -m bench.studio`\).*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(section.rstrip() + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def main(argv=None) -> None:
    args = parse_args(argv)
    started = datetime.now(tz=UTC)
    name = f"weft_bench_studio_{uuid.uuid4().hex[:6]}"
    base, _, _ = args.pg.rpartition("/")
    database_url = f"{base}/{name}"
    recreate_database(args.pg, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CELERY_"))}
    env.update({"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
                "SECRET_KEY": "bench-only-secret-key", "LOG_LEVEL": "WARNING",
                "ALLOWED_HOSTS": "127.0.0.1,localhost", "WEFT_THROTTLE_USER": "100000/min",
                "WEFT_DB_POOL_MIN": "1", "WEFT_DB_POOL_MAX": "8"})
    env.pop("REDIS_URL", None)
    server = None
    try:
        migrate(env)
        os.environ.update(env)
        import django

        django.setup()
        print(f"seeding {args.activities} activities, {args.instances} instances", flush=True)
        seed(args.activities, args.instances)
        from tests.e2e.support.platform import WebServer

        server = WebServer(env)
        figures = browser_figures(args, server.url)
        section = markdown(args, figures, started)
        print(section)
        if not args.no_write:
            write_section(section)
    finally:
        if server:
            server.stop()
        from django.db import connections

        connections.close_all()
        drop_database(args.pg, name)


if __name__ == "__main__":
    main()
