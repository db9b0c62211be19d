"""ECS's task endpoint at 169.254.170.2: the task role's credentials
(`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) and the task metadata endpoint v4
(`ECS_CONTAINER_METADATA_URI_V4`), served inside each task's network
namespace as Fargate serves them.

The pause container puts 169.254.170.2 on the task's loopback
(helper_images.pause_command); `listen` then opens a socket on
169.254.170.2:80 in that namespace from a thread of this process that joins
it for the bind alone (setns(2); needs root, as docker does), and serves it
from here. Only the task's own containers reach that address, so the
standard SDKs (botocore, aws-config), which accept a plain-HTTP credentials
URI only on loopback or ECS's link-local addresses, take the credentials
unchanged, and no other task or host can ask for them.

Credentials are the task role's session from the sandbox's STS (session name:
the task id), renewed while the server still has RENEW_BEFORE of them left,
so an SDK that refreshes ahead of the expiry always gets fresh ones; a
session moto no longer knows (after a reset) is replaced at once."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from moto.sts.models import sts_backends

from . import container_spec, fargate_rules
from .account import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from .task_record import ContainerState, Task

log = logging.getLogger("cruddur_sandbox.task_endpoint")

ADDRESS = "169.254.170.2"
DEFAULT_DURATION = 6 * 3600  # what ECS hands a task: six hours, renewed well before the end


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


@dataclass
class Registration:
    task: "Task"
    role_arn: str | None
    session: Any = None  # moto's AssumedRole
    credentials_id: str | None = None
    containers: dict[str, str] = field(default_factory=dict)  # metadata id -> container name
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None


CLONE_NEWNET = 0x40000000
BIND_ATTEMPTS = 250  # 5 s: until the pause container has put the address on its loopback


def _setns(fd: int) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)} (the task endpoint needs root, as docker does)")


def socket_in(netns: str) -> socket.socket:
    """A socket listening on ADDRESS:80 in the network namespace at `netns`
    (bound from a thread of its own that joins it; the socket stays there)."""
    result: dict[str, Any] = {}

    def bind() -> None:
        home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        target = os.open(netns, os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                for attempt in range(BIND_ATTEMPTS):
                    try:
                        sock.bind((ADDRESS, 80))
                        break
                    except OSError:
                        if attempt == BIND_ATTEMPTS - 1:
                            raise
                        time.sleep(0.02)
                sock.listen(16)
                result["socket"] = sock
            finally:
                _setns(home)
        except Exception as e:  # reported in the caller's thread
            result["error"] = e
        finally:
            os.close(target)
            os.close(home)

    th = threading.Thread(target=bind, name="task-endpoint-bind")
    th.start()
    th.join()
    if "error" in result:
        raise result["error"]
    return result["socket"]


def netns_of(pause: dict) -> str:
    """The pause container's network namespace, as a path on this host."""
    key = (pause.get("NetworkSettings") or {}).get("SandboxKey")
    if key and os.path.exists(key):
        return key
    return f"/proc/{pause['State']['Pid']}/ns/net"


class TaskEndpoint:
    def __init__(self, duration: int = DEFAULT_DURATION):
        self.duration = duration
        self.renew_before = min(1800, duration // 2)
        self.registrations: dict[str, Registration] = {}  # task id -> its registration
        self.lock = threading.Lock()

    def start(self) -> "TaskEndpoint":
        log.info("ECS task endpoint (credentials, metadata v4) on %s:80 in each task; credentials for %ds",
                 ADDRESS, self.duration)
        return self

    def stop(self) -> None:
        with self.lock:
            regs = list(self.registrations.values())
        for reg in regs:
            self._close(reg)

    # ------------------------------------------------------------ tasks

    def register(self, task: "Task", role_arn: str | None) -> dict[str, dict[str, str]]:
        """The variables ECS gives each container of `task` (by name)."""
        reg = Registration(task=task, role_arn=role_arn)
        if role_arn:
            reg.credentials_id = str(uuid.uuid4())
        out: dict[str, dict[str, str]] = {}
        for c in task.containers:
            metadata_id = f"{task.id}-{uuid.uuid4().hex[:10]}"
            reg.containers[metadata_id] = c.name
            env = {
                "ECS_CONTAINER_METADATA_URI_V4": f"http://{ADDRESS}/v4/{metadata_id}",
                "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
            }
            if reg.credentials_id:
                env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = f"/v2/credentials/{reg.credentials_id}"
            out[c.name] = env
        with self.lock:
            self.registrations[task.id] = reg
        return out

    def listen(self, task: "Task", pause: dict) -> None:
        """Serves the task's endpoint in its network namespace (the pause
        container's), from now until `forget`."""
        with self.lock:
            reg = self.registrations[task.id]
        sock = socket_in(netns_of(pause))
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                status, body = endpoint.answer(reg, self.path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer((ADDRESS, 80), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.daemon_threads = True
        reg.server = server
        threading.Thread(target=server.serve_forever, daemon=True, name=f"task-endpoint-{task.id[:8]}").start()

    def forget(self, task: "Task") -> None:
        with self.lock:
            reg = self.registrations.pop(task.id, None)
        if reg is not None:
            self._close(reg)

    @staticmethod
    def _close(reg: Registration) -> None:
        if reg.server is not None:
            reg.server.shutdown()
            reg.server.server_close()
            reg.server = None

    # ------------------------------------------------------------ answers

    def answer(self, reg: Registration, path: str) -> tuple[int, Any]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) == 3 and parts[:2] == ["v2", "credentials"]:
            if reg.credentials_id is None or parts[2] != reg.credentials_id:
                return 404, {"code": "NotFound", "message": "no credentials for this id"}
            return 200, self.credentials(reg)
        if len(parts) >= 2 and parts[0] == "v4" and parts[1] in reg.containers:
            rest = parts[2:]
            if rest == []:
                return 200, self._container(reg.task, self._container_state(reg, parts[1]))
            if rest == ["task"]:
                return 200, self._task(reg.task)
            return 404, {"message": f"the sandbox does not serve /v4/<id>/{'/'.join(rest)} (no stats)"}
        return 404, {"message": "not found"}

    def credentials(self, reg: Registration) -> dict[str, str]:
        with reg.lock:
            now = datetime.now(timezone.utc)
            session = reg.session
            if session is None or self._expires(session) - now < timedelta(seconds=self.renew_before) or (
                    session not in self._sts().assumed_roles):
                reg.session = session = self._sts().assume_role(
                    region_name=REGION, role_session_name=reg.task.id, role_arn=reg.role_arn, policy=None,
                    duration=self.duration, external_id=None)
            return {
                "RoleArn": reg.role_arn,
                "AccessKeyId": session.access_key_id,
                "SecretAccessKey": session.secret_access_key,
                "Token": session.session_token,
                "Expiration": _iso(self._expires(session)),
            }

    @staticmethod
    def _sts():
        return sts_backends[ACCOUNT_ID]["aws"]

    @staticmethod
    def _expires(session) -> datetime:
        exp = session.expiration
        return exp if exp.tzinfo else exp.replace(tzinfo=timezone.utc)

    @staticmethod
    def _container_state(reg: Registration, metadata_id: str) -> "ContainerState":
        name = reg.containers[metadata_id]
        return next(c for c in reg.task.containers if c.name == name)

    def _container(self, task: "Task", c: "ContainerState") -> dict[str, Any]:
        log_options = (c.definition.get("logConfiguration") or {})
        return {
            "DockerId": c.runtime_id,
            "Name": c.name,
            "DockerName": container_spec.docker_name(task, c.name),
            "Image": c.image,
            "ImageID": c.image_digest,
            "DesiredStatus": task.desired_status,
            "KnownStatus": c.last_status,
            "Limits": {"CPU": c.definition.get("cpu") or 0, "Memory": c.definition.get("memory") or 0},
            "Type": "NORMAL",
            "ContainerARN": c.container_arn,
            "LogDriver": log_options.get("logDriver"),
            "LogOptions": log_options.get("options") or {},
            "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [task.ip], "MACAddress": task.mac,
                          "AttachmentIndex": 0}],
        }

    def _task(self, task: "Task") -> dict[str, Any]:
        return {
            "Cluster": task.cluster_arn,
            "TaskARN": task.arn,
            "Family": task.family,
            "Revision": str(task.revision),
            "DesiredStatus": task.desired_status,
            "KnownStatus": task.last_status,
            "Limits": {"CPU": fargate_rules.cpu_units(task.cpu) / 1024 if task.cpu else None,
                       "Memory": fargate_rules.memory_mib(task.memory) if task.memory else None},
            "PullStartedAt": _iso(task.pull_started_at),
            "PullStoppedAt": _iso(task.pull_stopped_at),
            "AvailabilityZone": f"{REGION}a",
            "LaunchType": "FARGATE",
            "Containers": [self._container(task, c) for c in task.containers],
        }
