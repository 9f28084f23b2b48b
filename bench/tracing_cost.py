"""The cost of tracing: Weft's latency and throughput with traces off and on, in one run.

Two sets of workers run side by side on one local SQS server and one database: one set without
any OTEL_* variable (traces off: the SDK is never loaded), the other exporting every span over
OTLP/HTTP, as configured by `OTEL_EXPORTER_OTLP_ENDPOINT` alone, to a stand-in collector in a
process of its own (bench/otlp_sink.py, which only keeps the bodies while a run is measured). The
same definitions are published twice, the second copy routed (`options.queue`) to the traced
set's queue, and the runs alternate off/on (ABBA), several of each; the medians are compared.
A set that is not running a side only long-polls SQS and beats its heartbeat.

    python -m bench.tracing_cost --throughput-count 100 --throughput-runs 4

This process dispatches every workflow (`instance_dispatch`) without tracing, so the figures are
the workers' cost: on the web, a traced dispatch adds its request's spans and one
`weft.workflow` span per instance. Writes the section "Tracing cost" of bench/RESULTS.md (other
sections are kept) unless --no-results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.distributed import (
    LOG_DIR,
    REPO,
    RESULTS,
    CpuMeter,
    Deadline,
    _on_alarm,
    _sections,
    bench_env,
    drop_database,
    inline_definition,
    machine_info,
    machine_markdown,
    migrate,
    recreate_database,
    setup_django,
    tasks_definition,
    wait_instances,
    wait_queue_idle,
)

HEADING = "## Tracing cost (`python -m bench.tracing_cost`)"
TRACED_QUEUE = "traced"
SIDES = ("off", "on")


def log(message: str) -> None:
    print(f"[bench.tracing_cost {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL",
                                                        "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="weft_bench_tracing",
                        help="database created for the run and dropped at the end")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                           "redis://127.0.0.1:6379/14"))
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--polling-interval", type=float, default=0.1)
    parser.add_argument("--wait-time", type=int, default=20, help="SQS long poll, seconds")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of both sides' workers; repeatable")
    parser.add_argument("--traced-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the traced side only, e.g. "
                             "OTEL_TRACES_SAMPLER=parentbased_traceidratio; repeatable")
    parser.add_argument("--latency-steps", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=6, help="per side, alternating")
    parser.add_argument("--throughput-count", type=int, default=100)
    parser.add_argument("--throughput-steps", type=int, default=5)
    parser.add_argument("--throughput-runs", type=int, default=4,
                        help="runs per side, alternating off/on (ABBA)")
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds between runs: the traced side's last batch (the SDK sends "
                             "every 5 s) is exported before the next run starts")
    parser.add_argument("--max-seconds", type=int, default=1500)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--cpu-count", type=int, default=40,
                        help="(c): workflows per in-process measurement")
    parser.add_argument("--cpu-runs", type=int, default=3,
                        help="(c): measurements per variant, rotating over the variants")
    parser.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class OtlpSink:
    """bench/otlp_sink.py in a process (and session) of its own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # our own command line
            [sys.executable, "-m", "bench.otlp_sink"], cwd=REPO, stdout=subprocess.PIPE,
            text=True, start_new_session=True)
        line = self.process.stdout.readline().split()
        if line[:1] != ["listening"]:
            self.process.kill()
            raise RuntimeError("the OTLP sink did not start")
        self.url = f"http://127.0.0.1:{line[1]}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=60) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def routed(body: dict, queue: str | None) -> dict:
    if queue:
        body = {**body, "definition_id": f"{body['definition_id']}-{queue}",
                "name": f"{body['name']}-{queue}", "options": {"queue": queue}}
    return body


def publish(args) -> object:
    from workflows.services.definitions import definition_create, definition_publish
    from workflows.services.tenancy import tenant_member_ensure

    membership = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor")
    for queue in (None, TRACED_QUEUE):
        for body in (inline_definition("latency", args.latency_steps),
                     tasks_definition("tasks", args.throughput_steps)):
            body = routed(body, queue)
            definition_create(tenant=membership.tenant, user=membership.user, body=body)
            definition_publish(tenant=membership.tenant, user=membership.user,
                               definition_id=body["definition_id"])
    return membership.tenant


def definition(name: str, side: str) -> str:
    return name if side == "off" else f"{name}-{TRACED_QUEUE}"


def latency(tenant, side: str, args) -> float:
    from workflows.services.instances import instance_dispatch

    started = time.time()
    instance = instance_dispatch(tenant=tenant, definition_id=definition("latency", side),
                                 input={})
    [(_, _, finished_at, output)] = wait_instances([instance.id], 60, interval=0.01)
    assert output == {"i": args.latency_steps - 1}, output
    return finished_at.timestamp() - started


def throughput(tenant, side: str, args, meter: CpuMeter) -> dict:
    from workflows.models import Step
    from workflows.services.instances import instance_dispatch

    load = os.getloadavg()[0]
    before, window, machine = meter.sample(), time.monotonic(), CpuMeter.machine()
    started = time.time()
    ids = [instance_dispatch(tenant=tenant, definition_id=definition("tasks", side),
                             input={"n": n}).id for n in range(args.throughput_count)]
    rows = wait_instances(ids, max(60.0, args.throughput_count * 2.0), interval=0.25)
    elapsed = max(r[2].timestamp() for r in rows) - started
    cpu = CpuMeter.delta(before, meter.sample())
    busy, total = (a - b for a, b in zip(CpuMeter.machine(), machine, strict=True))
    wrong = [r for r in rows if r[3] != {"total": ids.index(r[0]) + args.throughput_steps}]
    if wrong:
        raise RuntimeError(f"{len(wrong)} workflows computed a wrong total, e.g. {wrong[0]}")
    return {"side": side, "elapsed": elapsed, "rate": len(ids) / elapsed, "cpu": cpu,
            "window": time.monotonic() - window, "machine_busy": busy / total, "load": load,
            "steps": Step.objects.filter(instance_id__in=ids).count()}


# (c) CPU per step in one process: traces off, on, and the two cheap ways to pay less.
CPU_VARIANTS = {
    "off": None,
    "on": {},
    "on, no SQL spans": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "psycopg"},
    "on, 10% sampled": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                        "OTEL_TRACES_SAMPLER_ARG": "0.1"},
}


def probe(count: int) -> dict:
    """In a process of its own (`--probe N`, started by `cpu_per_step`): dispatch N workflows
    and run their steps through `step_process`, one step per call as a worker given one message
    per step, publishing switched off; the CPU time of the whole process (the exporter's thread
    included, its last batch sent) per step."""
    from unittest import mock

    from django.test import override_settings

    setup_django(dict(os.environ))
    from workflows.models import Step, StepStatus
    from workflows.services.instances import instance_dispatch
    from workflows.services.runner import step_process
    from workflows.services.tenancy import tenant_member_ensure
    from workflows.tracing import tracing_enabled, tracing_flush

    tenant = tenant_member_ensure(tenant_slug="bench", username="bench", role="editor").tenant

    def workflow(n: int) -> int:
        instance = instance_dispatch(tenant=tenant, definition_id="tasks", input={"n": n})
        done = 0
        while step_id := (Step.objects.filter(instance_id=instance.id, status=StepStatus.PENDING)
                          .order_by("created_at").values_list("id", flat=True).first()):
            assert step_process(step_id=step_id, worker="bench") == "done"
            done += 1
        return done

    with mock.patch("workflows.services.outbox.steps_publish"), \
            override_settings(WEFT_STEP_CONTINUE_MAX=0):
        for n in range(5):  # plans, connections, prepared statements
            workflow(n)
        tracing_flush()
        started = time.process_time()
        steps = sum(workflow(n) for n in range(count))
        tracing_flush()
        cpu = time.process_time() - started
    return {"cpu_per_step": cpu / steps, "steps": steps, "traced": tracing_enabled()}


def cpu_per_step(args, env: dict, traced: dict) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in CPU_VARIANTS}
    names = list(CPU_VARIANTS)
    for n in range(args.cpu_runs):
        for name in names[n % len(names):] + names[:n % len(names)]:
            extra = CPU_VARIANTS[name]
            process_env = env if extra is None else {**traced, **extra}
            done = subprocess.run(  # our own command line
                [sys.executable, "-m", "bench.tracing_cost", "--probe", str(args.cpu_count)],
                cwd=REPO, env=process_env, capture_output=True, text=True, timeout=600,
                check=True)
            found = json.loads(done.stdout.strip().splitlines()[-1])
            assert found["traced"] == (extra is not None), (name, found)
            results[name].append(found["cpu_per_step"])
    return results


def run(args) -> dict:
    from tests.e2e.support.fixtures import ensure_test_queues, sqs_client
    from tests.e2e.support.workers import start_celery_worker, stop_worker, wait_for_log
    from workflows.sqs.local_server import LocalSqsServer

    LOG_DIR.mkdir(exist_ok=True)
    began = time.monotonic()
    report = {"started": datetime.now(tz=UTC), "machine": machine_info(args.pg),
              "load_before": os.getloadavg(), "latency": {s: [] for s in SIDES}, "runs": [],
              "spans": {}}
    prefix = f"benchtr-{uuid.uuid4().hex[:6]}-"
    database_url = f"{args.pg.rstrip('/')}/{args.database}"
    server = sink = None
    workers: dict[str, list] = {side: [] for side in SIDES}
    created = False
    try:
        recreate_database(args.pg, args.database)
        created = True
        sink = OtlpSink()
        server = LocalSqsServer(log_path=LOG_DIR / f"moto-{prefix.rstrip('-')}.log").start()
        args.worker_env = [*args.worker_env, f"WEFT_SQS_QUEUES={TRACED_QUEUE}"]
        env = {k: v for k, v in bench_env(args, server.url, database_url, prefix).items()
               if not k.startswith("OTEL_")}
        traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
                  **dict(item.split("=", 1) for item in args.traced_env)}
        log(f"database {args.database}, SQS {server.url}, OTLP sink {sink.url}; migrating")
        migrate(env)
        setup_django(env)
        queues = ensure_test_queues(env)
        from django.conf import settings

        queue_urls = [queues[settings.WEFT_SQS.sqs_queue(q)] for q in (None, TRACED_QUEUE)]
        tenant = publish(args)
        for side in SIDES:
            log(f"starting {args.workers} workers with traces {side}")
            for n in range(args.workers):
                name = f"tr{side}{n}-{prefix.rstrip('-')}"
                workers[side].append(start_celery_worker(
                    traced if side == "on" else env, concurrency=args.concurrency,
                    loglevel=args.log_level, hostname=f"{name}@%h",
                    log_path=LOG_DIR / f"{name}.log", wait_ready=False,
                    queues=[settings.WEFT_SQS.celery_queue(TRACED_QUEUE if side == "on"
                                                           else None)]))
        for worker in workers["off"] + workers["on"]:
            wait_for_log(worker, " ready.", timeout=90)
        meter = CpuMeter({"workers off": [w.pid for w in workers["off"]],
                          "workers on": [w.pid for w in workers["on"]],
                          "sqs server": [server.process.pid], "otlp sink": [sink.process.pid]})
        report["setup"] = time.monotonic() - began
        client = sqs_client(env)

        def settle() -> None:
            time.sleep(args.settle)
            for url in queue_urls:
                wait_queue_idle(client, url)

        for side in SIDES:  # warm every child: plans, connections, imports, SQS clients
            for _ in range(args.workers * args.concurrency * 2):
                latency(tenant, side, args)
        settle()
        sink.stats()
        log(f"(a) latency: {args.latency_runs} x {args.latency_steps} inline steps per side")
        for n in range(args.latency_runs):
            for side in (SIDES if n % 2 == 0 else SIDES[::-1]):
                report["latency"][side].append(latency(tenant, side, args))
        settle()
        sink.stats()
        log(f"(b) throughput: {args.throughput_runs} x {args.throughput_count} x "
            f"{args.throughput_steps} task steps per side, alternating")
        for n in range(args.throughput_runs):
            for side in (SIDES if n % 2 == 0 else SIDES[::-1]):
                result = throughput(tenant, side, args, meter)
                settle()
                result["exported"] = sink.stats()
                report["runs"].append(result)
                log(f"  traces {side}: {result['rate']:.1f} workflows/s in "
                    f"{result['elapsed']:.1f} s, load {result['load']:.1f}, "
                    f"{result['exported']['spans']} spans")
        log(f"(c) CPU per step, in one process: {args.cpu_runs} x {args.cpu_count} workflows "
            f"per variant, rotating")
        report["cpu"] = cpu_per_step(args, env, traced)
        settle()
        sink.stats()
        report["duration"] = time.monotonic() - began
        report["load_after"] = os.getloadavg()
        return report
    finally:
        for worker in workers["off"] + workers["on"]:
            with contextlib.suppress(Exception):
                stop_worker(worker, signal.SIGTERM, timeout=8)
        for thing in (server, sink):
            if thing is not None:
                with contextlib.suppress(Exception):
                    thing.kill() if thing is server else thing.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if created:
            drop_database(args.pg, args.database)


def _median(values) -> float:
    return statistics.median(values) if values else float("nan")


def markdown(report: dict, args) -> str:
    runs = {side: [r for r in report["runs"] if r["side"] == side] for side in SIDES}
    lat = {side: _median(report["latency"][side]) * 1000 for side in SIDES}
    rate = {side: _median([r["rate"] for r in runs[side]]) for side in SIDES}
    per_wf = {side: _median([r["cpu"].get(f"workers {side}", 0.0) * 1000 / args.throughput_count
                             for r in runs[side]]) for side in SIDES}
    sink_cpu = _median([r["cpu"].get("otlp sink", 0.0) * 1000 / args.throughput_count
                        for r in runs["on"]])
    steps = _median([r["steps"] for r in runs["on"]])
    spans = _median([r["exported"]["spans"] for r in runs["on"]])
    scopes: dict[str, list[int]] = {}
    for r in runs["on"]:
        for scope, count in r["exported"]["scopes"].items():
            scopes.setdefault(scope, []).append(count)
    by_scope = ", ".join(f"{scope.removeprefix('opentelemetry.instrumentation.')} "
                         f"{_median(counts) / steps:.1f}"
                         for scope, counts in sorted(scopes.items(), key=lambda i: -max(i[1])))
    kb = _median([r["exported"]["bytes"] for r in runs["on"]]) / 1024
    def run_cpu(r) -> float:
        return r["cpu"].get(f"workers {r['side']}", 0.0) * 1000 / args.throughput_count

    loads = "; ".join(f"{r['side']} {r['rate']:.1f}/s, {run_cpu(r):.0f} ms "
                      f"(load {r['load']:.1f})" for r in report["runs"])
    cpu = {name: _median(values) * 1000 for name, values in report["cpu"].items()}
    cpu_table = (
        "| (c) CPU per step in one process (ms) | " + " | ".join(CPU_VARIANTS) + " |\n"
        "| --- |" + " --- |" * len(CPU_VARIANTS) + "\n"
        f"| median of {args.cpu_runs} x {args.cpu_count} workflows | "
        + " | ".join(f"{cpu[name]:.2f}" for name in CPU_VARIANTS) + " |\n"
        "| / off | " + " | ".join(f"{cpu[name] / cpu['off']:.2f}" for name in CPU_VARIANTS)
        + " |")
    extra = (" with " + ", ".join(args.traced_env)) if args.traced_env else ""
    return "\n\n".join([
        f"Run {report['started']:%Y-%m-%d %H:%M} UTC, `python -m bench.tracing_cost "
        f"--throughput-count {args.throughput_count} --throughput-runs {args.throughput_runs}"
        f"{' ' + ' '.join('--traced-env ' + e for e in args.traced_env) if args.traced_env else ''}"
        f"` ({report['duration']:.0f} s), code at {report['machine']['commit']}. Load average "
        f"(1/5/15 min) before {' / '.join(f'{v:.1f}' for v in report['load_before'])}, after "
        f"{' / '.join(f'{v:.1f}' for v in report['load_after'])}: wall-clock figures are "
        "under that load; compare the two sides, which alternated within the same minutes.",
        f"Machine: {machine_markdown(report['machine'])}.",
        f"Two sets of {args.workers} workers x prefork {args.concurrency} on the same SQS server "
        f"and database; the traced set exports over OTLP/HTTP{extra} (SDK defaults: "
        "BatchSpanProcessor, 5 s schedule delay, every trace sampled) to a stand-in collector "
        "in its own process; this process dispatches untraced.",
        "| | traces off | traces on | on / off |\n| --- | --- | --- | --- |\n"
        f"| (a) latency, {args.latency_steps} inline steps, median of {args.latency_runs} (ms) "
        f"| {lat['off']:.0f} | {lat['on']:.0f} | {lat['on'] / lat['off']:.2f} |\n"
        f"| (b) throughput, {args.throughput_count} x {args.throughput_steps} task steps, "
        f"median of {len(runs['on'])} (workflows/s) | {rate['off']:.1f} | {rate['on']:.1f} | "
        f"{rate['on'] / rate['off']:.2f} |\n"
        f"| (b) workers' CPU per workflow (ms) | {per_wf['off']:.0f} | {per_wf['on']:.0f} | "
        f"{per_wf['on'] / per_wf['off']:.2f} |",
        f"Traces on, per (b) run: {spans:.0f} spans for {steps:.0f} steps "
        f"({spans / steps:.1f} spans per step: {by_scope}), {kb:.0f} KiB of OTLP; "
        f"the stand-in collector's CPU {sink_cpu:.1f} ms per workflow (not in the workers' "
        f"figure). (b) runs in order, workflows/s and workers' CPU per workflow: {loads}.",
        cpu_table,
        "(c) dispatches workflows and runs each step through `step_process` in one process, one "
        "step per call, publishing switched off; CPU time of that process (its exporter thread "
        "included, the last batch sent) per step, processes of each variant in turn. CPU time "
        "depends much less on the machine's load than wall-clock time.",
    ])


def write_section(path: Path, text: str) -> None:
    """Replace this section of RESULTS.md in place (or add it before the history)."""
    previous = path.read_text() if path.exists() else "# Benchmark results\n"
    sections = _sections(previous)
    parts = [previous.split("\n## ", 1)[0].rstrip()]
    for heading, body in sections.items():
        if heading == "## History" and HEADING not in sections:
            parts += [HEADING, text]
        parts += [heading, text if heading == HEADING else body]
    if HEADING not in parts:
        parts += [HEADING, text]
    path.write_text("\n\n".join(parts) + "\n")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.max_seconds)
    try:
        report = run(args)
    except Deadline as exc:
        raise SystemExit(f"bench.tracing_cost: {exc}; everything it started was stopped") from exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    text = markdown(report, args)
    print()
    print(HEADING)
    print()
    print(text)
    if not args.no_results:
        write_section(args.results, text)
        print(f"\nwritten: {args.results}")


if __name__ == "__main__":
    main()
