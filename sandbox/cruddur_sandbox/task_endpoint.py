"""ECS's task endpoint at 169.254.170.2: the task role's credentials
(`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) and the task metadata endpoint v4
(`ECS_CONTAINER_METADATA_URI_V4`), as ECS serves them to awsvpc tasks.

As the ECS agent's bridge does on EC2, 169.254.170.2 is an address of the
host on the sandbox network's bridge (put there by a helper container with
NET_ADMIN, gone with the network), and each task's route to it goes through
its network's gateway (the pause container adds it); `serve` listens on
169.254.170.2:80 bound to that bridge (SO_BINDTODEVICE: one listener per
sandbox, each answering its own network's tasks; port 80, so root, as
docker). Nothing listens inside the task: its containers keep every port.
The standard SDKs (botocore, aws-config), which accept a plain-HTTP
credentials URI only on loopback or ECS's link-local addresses, take the
credentials unchanged. An id is answered only to the address of the task
it belongs to.

Credentials are the task role's session from the sandbox's STS (session name:
the task id), renewed while the server still has RENEW_BEFORE of them left,
so an SDK that refreshes ahead of the expiry always gets fresh ones; a
session moto no longer knows (after a reset) is replaced at once."""

from __future__ import annotations

import json
import logging
import socket
import threading
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


def bridge_of(dc, network_id: str) -> str:
    """The host's bridge interface of a docker network."""
    attrs = dc.networks.get(network_id).attrs
    return (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{network_id[:12]}"


def add_address(dc, pause_image: str, bridge: str, labels: dict[str, str]) -> None:
    """169.254.170.2 on the host's `bridge`, by a helper container (the
    pause image's busybox) on the host's network with NET_ADMIN."""
    bb = "/bin/busybox"
    script = (f"{bb} ip addr show dev {bridge} | {bb} grep -q ' {ADDRESS}/' || "
              f"{bb} ip addr add {ADDRESS}/32 dev {bridge}")
    dc.containers.run(pause_image, [bb, "sh", "-c", script], network_mode="host", cap_add=["NET_ADMIN"],
                      remove=True, labels=labels)


class TaskEndpoint:
    def __init__(self, bridge: str, duration: int = DEFAULT_DURATION):
        self.bridge = bridge
        self.duration = duration
        self.renew_before = min(1800, duration // 2)
        self.by_credentials: dict[str, Registration] = {}
        self.by_container: dict[str, Registration] = {}
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                status, body = endpoint.answer(self.path, self.client_address[0])
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((ADDRESS, 80), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        sock = self.server.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bridge.encode())
        try:
            self.server.server_bind()
            self.server.server_activate()
        except OSError as e:
            self.server.server_close()
            raise SystemExit(f"the ECS task endpoint cannot listen on {ADDRESS}:80 on {bridge} ({e}): "
                             "serve runs as root, as docker does") from None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="task-endpoint")

    def start(self) -> "TaskEndpoint":
        self.thread.start()
        log.info("ECS task endpoint (credentials, metadata v4) on %s:80 of %s; credentials last %ds",
                 ADDRESS, self.bridge, self.duration)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

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
            if reg.credentials_id:
                self.by_credentials[reg.credentials_id] = reg
            for metadata_id in reg.containers:
                self.by_container[metadata_id] = reg
        return out

    def forget(self, task: "Task") -> None:
        with self.lock:
            for table in (self.by_credentials, self.by_container):
                for key in [k for k, r in table.items() if r.task is task]:
                    del table[key]

    # ------------------------------------------------------------ answers

    def answer(self, path: str, client: str) -> tuple[int, Any]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) == 3 and parts[:2] == ["v2", "credentials"]:
            reg = self.by_credentials.get(parts[2])
            if reg is None or reg.task.ip != client:
                return 404, {"code": "NotFound", "message": "no credentials for this id from this address"}
            return 200, self.credentials(reg)
        if len(parts) >= 2 and parts[0] == "v4":
            reg = self.by_container.get(parts[1])
            if reg is None or reg.task.ip != client:
                return 404, {"message": "no task metadata for this id from this address"}
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
