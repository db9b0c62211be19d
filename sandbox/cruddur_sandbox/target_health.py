"""Target health as an Application Load Balancer computes it.

moto's ELBv2 keeps load balancers, listeners, rules and target groups as a
ledger and says every registered target is healthy. Here every target of
every target group that a load balancer uses is health-checked the way an ALB
does (HealthCheckPath/Port/Interval/Timeout, Healthy/UnhealthyThresholdCount,
Matcher), deregistered targets drain for deregistration_delay.timeout_seconds,
and DescribeTargetHealth reports those states."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup, elbv2_backends

from .account import ACCOUNT_ID, REGION

log = logging.getLogger("cruddur_sandbox.elb")

LB_DNS_NAME = "127.0.0.1"


@dataclass
class TargetState:
    tg: str
    id: str
    port: int
    state: str = "initial"
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = "Target registration is in progress"
    successes: int = 0
    failures: int = 0
    next_check: float = 0.0
    checking: bool = False
    drain_until: float | None = None
    registered_at: float = field(default_factory=time.monotonic)

    def health(self, health_port: Any) -> FakeHealthStatus:
        return FakeHealthStatus(self.id, str(self.port), health_port, self.state, self.reason, self.description)


def _codes_match(matcher: dict[str, Any] | None, status: int) -> bool:
    spec = str((matcher or {}).get("HttpCode") or "200")
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            if int(lo) <= status <= int(hi):
                return True
        elif part and int(part) == status:
            return True
    return False


class TargetHealth:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.targets: dict[tuple[str, str, int], TargetState] = {}
        self.stop_event = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="elb-check")
        self.thread = threading.Thread(target=self._run, daemon=True, name="elb-health")
        self._rr: dict[str, int] = {}

    @staticmethod
    def backend() -> ELBv2Backend:
        return elbv2_backends[ACCOUNT_ID][REGION]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ the agent's side

    def register(self, tg_arn: str, ip: str, port: int) -> None:
        self.backend().register_targets(tg_arn, [{"Id": ip, "Port": port}])
        self._sync()

    def deregister(self, tg_arn: str, ip: str, port: int) -> float:
        """Deregisters and starts draining at once (no new requests); returns
        the target group's deregistration delay."""
        tg = self.backend().target_groups.get(tg_arn)
        if tg is None:
            return 0.0
        try:
            self.backend().deregister_targets(tg_arn, [{"Id": ip, "Port": port}])
        except Exception:
            pass
        delay = float(tg.attributes.get("deregistration_delay.timeout_seconds", 300))
        with self.lock:
            st = self.targets.get((tg_arn, ip, port))
            if st is not None and st.state != "draining":
                self._drain(st, delay)
        return delay

    def state(self, tg_arn: str, ip: str | None, port: int) -> TargetState:
        with self.lock:
            st = self.targets.get((tg_arn, ip or "", port))
        return st or TargetState(tg_arn, ip or "", port)

    def healthy(self, tg_arn: str) -> list[TargetState]:
        with self.lock:
            return [s for s in self.targets.values() if s.tg == tg_arn and s.state == "healthy"]

    def pick(self, tg_arn: str) -> TargetState | None:
        """Round robin over the healthy targets only."""
        with self.lock:
            healthy = sorted(self.healthy(tg_arn), key=lambda s: (s.registered_at, s.id, s.port))
            if not healthy:
                return None
            i = self._rr.get(tg_arn, 0) % len(healthy)
            self._rr[tg_arn] = i + 1
            return healthy[i]

    # ------------------------------------------------------------ checking

    def _drain(self, st: TargetState, delay: float) -> None:
        st.state = "draining"
        st.reason = "Target.DeregistrationInProgress"
        st.description = "Target deregistration is in progress"
        st.drain_until = time.monotonic() + delay

    def _sync(self) -> None:
        """Follows the ledger: new targets start `initial`, removed ones drain."""
        backend = self.backend()
        now = time.monotonic()
        with self.lock:
            seen = set()
            for tg in list(backend.target_groups.values()):
                for target in list(tg.targets.values()):
                    key = (tg.arn, target["Id"], int(target.get("Port") or tg.port or 0))
                    seen.add(key)
                    st = self.targets.get(key)
                    if st is None or st.state == "draining":
                        st = TargetState(tg.arn, key[1], key[2])
                        self.targets[key] = st
                    in_use = bool(tg.load_balancer_arns)
                    if not in_use:
                        st.state, st.reason = "unused", "Target.NotInUse"
                        st.description = "Target group is not configured to receive traffic from the load balancer"
                    elif st.state == "unused":
                        st.state, st.reason = "initial", "Elb.RegistrationInProgress"
                        st.description = "Target registration is in progress"
            for key, st in list(self.targets.items()):
                if key in seen:
                    continue
                tg = backend.target_groups.get(key[0])
                if tg is None:
                    del self.targets[key]
                elif st.state != "draining":
                    self._drain(st, float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)))
                elif st.drain_until is not None and now >= st.drain_until:
                    del self.targets[key]

    def _run(self) -> None:
        while not self.stop_event.wait(0.2):
            try:
                self._sync()
                backend = self.backend()
                now = time.monotonic()
                with self.lock:
                    due = [
                        s for s in self.targets.values()
                        if s.state in ("initial", "healthy", "unhealthy") and not s.checking and s.next_check <= now
                    ]
                    for s in due:
                        s.checking = True
                for s in due:
                    tg = backend.target_groups.get(s.tg)
                    if tg is None:
                        s.checking = False
                        continue
                    self.pool.submit(self._check, s, tg)
            except Exception:
                log.exception("target health loop")

    def _check(self, st: TargetState, tg: FakeTargetGroup) -> None:
        interval = float(tg.health_check_interval_seconds or 30)
        try:
            if not tg.health_check_enabled:
                ok, reason, desc = True, None, None
            else:
                ok, reason, desc = self._probe(st, tg)
            healthy_n = int(tg.healthy_threshold_count or 5)
            unhealthy_n = int(tg.unhealthy_threshold_count or 2)
            with self.lock:
                if st.state not in ("initial", "healthy", "unhealthy"):
                    return  # drained meanwhile
                if ok:
                    st.successes += 1
                    st.failures = 0
                    if st.state != "healthy" and st.successes >= healthy_n:
                        st.state, st.reason, st.description = "healthy", None, None
                        log.info("target %s:%s healthy in %s", st.id, st.port, tg.name)
                    elif st.state == "initial":
                        st.reason, st.description = "Elb.InitialHealthChecking", "Initial health checks in progress"
                else:
                    st.failures += 1
                    st.successes = 0
                    if st.state == "initial" and st.failures < unhealthy_n:
                        st.reason, st.description = "Elb.InitialHealthChecking", "Initial health checks in progress"
                    if st.failures >= unhealthy_n and st.state != "unhealthy":
                        st.state = "unhealthy"
                        log.info("target %s:%s unhealthy in %s: %s", st.id, st.port, tg.name, desc)
                    if st.state == "unhealthy":
                        st.reason, st.description = reason, desc
        finally:
            st.next_check = time.monotonic() + interval
            st.checking = False

    @staticmethod
    def _probe(st: TargetState, tg: FakeTargetGroup) -> tuple[bool, str | None, str | None]:
        port = tg.health_check_port
        port = st.port if port in (None, "", "traffic-port") else int(port)
        path = tg.health_check_path or "/"
        timeout = float(tg.health_check_timeout_seconds or 5)
        conn = http.client.HTTPConnection(st.id, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": "ELB-HealthChecker/2.0", "Host": f"{st.id}:{port}"})
            resp = conn.getresponse()
            resp.read(65536)
            if _codes_match(getattr(tg, "matcher", None), resp.status):
                return True, None, None
            return False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{resp.status}]"
        except (socket.timeout, TimeoutError):
            return False, "Target.Timeout", "Request timed out"
        except (OSError, http.client.HTTPException):
            return False, "Target.FailedHealthChecks", "Health checks failed"
        finally:
            conn.close()


_TARGET_HEALTH: "TargetHealth | None" = None


def _health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
    port = int(target.get("Port") or (self.targets.get(target["Id"]) or {}).get("Port") or self.port or 0)
    if _TARGET_HEALTH is not None:
        with _TARGET_HEALTH.lock:
            st = _TARGET_HEALTH.targets.get((self.arn, target["Id"], port))
        if st is not None:
            return st.health(self.health_check_port)
    if target["Id"] in self.targets:
        return FakeHealthStatus(target["Id"], str(port), self.health_check_port, "initial",
                                "Elb.RegistrationInProgress", "Target registration is in progress")
    return FakeHealthStatus(target["Id"], str(port), self.health_check_port, "unused", "Target.NotRegistered",
                            "Target is not registered to the target group")


def _describe_target_health(self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]):
    from moto.elbv2.exceptions import TargetGroupNotFoundError

    tg = self.target_groups.get(target_group_arn)
    if tg is None:
        raise TargetGroupNotFoundError()
    if not targets:
        targets = [dict(t) for t in tg.targets.values()]
        if _TARGET_HEALTH is not None:
            with _TARGET_HEALTH.lock:
                targets += [
                    {"Id": s.id, "Port": s.port}
                    for s in _TARGET_HEALTH.targets.values()
                    if s.tg == target_group_arn and s.state == "draining"
                ]
    return [tg.health_for(t, self.ec2_backend) for t in targets]


_original_create_load_balancer = ELBv2Backend.create_load_balancer


def _create_load_balancer(self: ELBv2Backend, *args: Any, **kwargs: Any):
    lb = _original_create_load_balancer(self, *args, **kwargs)
    # the local proxy serves every listener on loopback: http://<DNSName>:<listener port>
    lb.dns_name = LB_DNS_NAME
    return lb


def install(health: TargetHealth) -> None:
    global _TARGET_HEALTH
    _TARGET_HEALTH = health
    FakeTargetGroup.health_for = _health_for
    ELBv2Backend.describe_target_health = _describe_target_health
    ELBv2Backend.create_load_balancer = _create_load_balancer
