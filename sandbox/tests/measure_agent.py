"""Measures the agent (prints a table; asserts nothing):

- a rolling update of a one-task service (the busybox test app, container
  health check every 5 s, ECS's shortest): UpdateService -> the new task HEALTHY, -> the
  deployment COMPLETED, -> the old task STOPPED; the same behind a load
  balancer (target group check every 2 s, 2 to be healthy, 1 s deregistration
  delay);
- the resident memory of the `serve` process with two services running.

Run: target/sandbox/venv/bin/python sandbox/tests/measure_agent.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import app_container, free_port, open_sandbox, primary, register, tasks_of  # noqa: E402
from test_lb import make_lb  # noqa: E402
from test_service import completed, create_service  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def roll(sb, cluster: str, name: str, tds: list[str]) -> tuple[float, float, float]:
    [old] = tasks_of(sb, cluster, name)
    current = sb.ecs.describe_services(cluster=cluster, services=[name])["services"][0]["taskDefinition"]
    td = tds[1] if current == tds[0] else tds[0]
    t0 = time.monotonic()
    dep = primary(sb.ecs.update_service(cluster=cluster, service=name, taskDefinition=td)["service"])["id"]
    healthy = done = gone = None
    while time.monotonic() - t0 < 120 and not (healthy and done and gone):
        now = time.monotonic() - t0
        if healthy is None:
            new = [t for t in tasks_of(sb, cluster, name) if t["startedBy"] == dep]
            if new and new[0]["healthStatus"] == "HEALTHY":
                healthy = now
        if gone is None:
            [o] = sb.ecs.describe_tasks(cluster=cluster, tasks=[old["taskArn"]])["tasks"]
            if o["lastStatus"] == "STOPPED":
                gone = now
        if done is None and completed(sb, cluster, name, dep):
            done = now
        time.sleep(0.05)
    return healthy, done, gone


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, open_sandbox(Path(tmp)) as sb:
        pid = sb.proc.pid
        rss_idle = rss_mib(pid)
        sb.ecs.create_cluster(clusterName="measure")
        v = [register(sb, "measure", [app_container(sb, image=f"{sb.registry}/sbtest-app:{tag}")]) for tag in ("v1", "v2")]
        dep = create_service(sb, "measure", "plain", v[0])
        t0 = time.monotonic()
        while not completed(sb, "measure", "plain", dep):
            time.sleep(0.1)
        first = time.monotonic() - t0
        port = free_port()
        lb, tg = make_lb(sb, "measure-lb", port, delay=1)
        w = [register(sb, "measure-lb", [app_container(sb, image=f"{sb.registry}/sbtest-app:{tag}")]) for tag in ("v1", "v2")]
        dep = create_service(sb, "measure", "balanced", w[0], loadBalancers=[
            {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}])
        while not completed(sb, "measure", "balanced", dep):
            time.sleep(0.1)
        rss_two = rss_mib(pid)
        plain = [roll(sb, "measure", "plain", v) for _ in range(args.runs)]
        balanced = [roll(sb, "measure", "balanced", w) for _ in range(args.runs)]
        rss_after = rss_mib(pid)

        def fmt(xs):
            xs = [x for x in xs if x is not None]
            return f"{statistics.median(xs):.2f} s ({min(xs):.2f}-{max(xs):.2f}, n={len(xs)})" if xs else "-"

        rows.append(("first deployment of a new service -> COMPLETED", f"{first:.2f} s", ""))
        for label, data in (("rolling update", plain), ("rolling update behind the load balancer", balanced)):
            rows.append((f"{label}: UpdateService -> new task HEALTHY", fmt([d[0] for d in data]), ""))
            rows.append((f"{label}: UpdateService -> deployment COMPLETED", fmt([d[1] for d in data]), ""))
            rows.append((f"{label}: UpdateService -> old task STOPPED", fmt([d[2] for d in data]), ""))
        rows.append(("serve RSS, ready, no task", f"{rss_idle:.0f} MiB", ""))
        rows.append(("serve RSS, two services running (one behind the LB)", f"{rss_two:.0f} MiB", ""))
        rows.append((f"serve RSS after {2 * args.runs} more rolling updates", f"{rss_after:.0f} MiB", ""))
    print("| measurement | value |")
    print("| --- | --- |")
    for name, value, _ in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
