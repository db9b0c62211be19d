"""`python -m cruddur_sandbox serve`: the sandbox account in one process.
The order of things (README: Command line) is `Serving.start`'s."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import ecs_api, helper_images, least_privilege, registry_config, target_health, teardown, web_identity
from .account import ACCOUNT_ID, REGION
from .agent import Agent
from .clock import now
from .labels import LABEL_ROLE, LABEL_SANDBOX, sandbox_id
from .listeners import Proxies
from .moto_server import MotoServer
from .network import Network, client, ensure_network
from .postgres import CONNECTION_URL_PARAMETER
from .task_endpoint import TaskEndpoint, add_address, bridge_of
from .task_gate import TaskGate
from .state_dir import READY_FILE, SCHEMA, lock_state_dir, state_dir_in_use, write_json_atomic

log = logging.getLogger("cruddur_sandbox.serve")


class Serving:
    """What one `serve` runs, started in order and stopped in reverse."""

    def __init__(self, args, state_dir: Path, dc, network: Network, sid: str):
        self.args = args
        self.state_dir = state_dir
        self.dc = dc
        self.network = network
        self.sid = sid
        self.servers: list[MotoServer] = []
        self.health: target_health.TargetHealth | None = None
        self.proxies: Proxies | None = None
        self.agent: Agent | None = None
        self.bridge = None
        self.postgres = None
        self.seeded = None
        self.standins: dict[str, str] = {}

    def start(self) -> dict:
        """Everything up; returns what agent.json says."""
        args = self.args
        pool = ThreadPoolExecutor(max_workers=3)
        pause_f = pool.submit(helper_images.ensure_pause_image, self.dc)
        xray_f = pool.submit(helper_images.ensure_xray_standin, self.dc)
        pg_f = None
        if not args.no_postgres:
            from . import postgres

            pg_f = pool.submit(postgres.start, self.dc, self.network, self.sid, args.postgres_image)
        xray_image = xray_f.result()
        self.standins = {
            repo: xray_image for repo, (kind, _) in helper_images.STANDIN_IMAGES.items() if kind == "xray"
        }
        endpoint, task_endpoint = self._start_moto(pause_f.result())
        self._seed_and_database(endpoint, pg_f)
        pool.shutdown(wait=False)
        self._start_bridge(endpoint)
        self.agent.start()
        self.health.start()
        self.proxies = Proxies(self.health)
        self.proxies.start()
        return self._info(endpoint, task_endpoint)

    def _start_moto(self, pause_image: str) -> tuple[str, str]:
        """moto on loopback for the tool, then the same app on the network's
        gateway for containers; the agent and the target health under it."""
        args = self.args
        try:
            self.servers.append(MotoServer(args.host, args.port))
        except OSError as e:
            raise SystemExit(f"moto cannot listen on {args.host}:{args.port} ({e}): pick another --port") from None
        port = self.servers[0].port
        least_privilege.install()
        try:
            self.servers.append(MotoServer(self.network.gateway, port, gate=TaskGate))
        except OSError:
            self.servers.append(MotoServer(self.network.gateway, 0, gate=TaskGate))
        endpoint = f"http://{args.host}:{port}"
        task_endpoint = f"http://{self.network.gateway}:{self.servers[1].port}"
        self.health = target_health.TargetHealth()
        self.agent = Agent(
            docker=self.dc,
            sandbox=self.sid,
            network=self.network,
            registry=args.registry,
            pause_image=pause_image,
            standins=self.standins,
            endpoint=endpoint,
            hold=args.ecs_running == 0,
            shutdown_grace=args.shutdown_grace,
        )
        self.agent.target_health = self.health
        bridge = bridge_of(self.dc, self.network.id)
        add_address(self.dc, pause_image, bridge, {LABEL_SANDBOX: self.sid, LABEL_ROLE: "helper"})
        self.agent.task_endpoint = TaskEndpoint(bridge, args.task_credentials_seconds).start()
        ecs_api.install(self.agent)
        target_health.install(self.health)
        web_identity.install(self.state_dir)
        for s in self.servers:
            s.start()
        return endpoint, task_endpoint

    def _seed_and_database(self, endpoint: str, pg_f) -> None:
        args = self.args
        if args.seed_policies:
            from .seed import seed

            self.seeded = seed(endpoint, args.seed_policies, args.htpasswd,
                               os.environ.get("SANDBOX_REGISTRY_PASSWORD"))
            log.info("seeded: subnets %s, security group %s", ",".join(self.seeded["subnets"]),
                     self.seeded["security_group"])
        self.postgres = pg_f.result() if pg_f is not None else None
        if self.postgres is not None:
            self.agent.aws("ssm").put_parameter(
                Name=CONNECTION_URL_PARAMETER, Value=self.postgres.url, Type="SecureString", Overwrite=True
            )
            log.info("SSM %s points at the sandbox's PostgreSQL (%s:5432)", CONNECTION_URL_PARAMETER,
                     self.postgres.alias)

    def _start_bridge(self, endpoint: str) -> None:
        args = self.args
        if args.bridge_port is None:
            return
        from .ecr_bridge import secret_from_env
        from .ecr_bridge import serve as serve_bridge

        secret = secret_from_env()
        self.bridge = serve_bridge("127.0.0.1", args.bridge_port, args.registry, endpoint, secret)
        log.info("ECR push bridge on http://127.0.0.1:%d/events", self.bridge.server_address[1])
        htpasswd = Path(args.htpasswd) if args.htpasswd else self.state_dir / "htpasswd"
        path = registry_config.write(self.state_dir, registry=args.registry, htpasswd=htpasswd,
                                     bridge_port=self.bridge.server_address[1], secret=secret)
        log.info("the registry's config: %s", path)

    def _info(self, endpoint: str, task_endpoint: str) -> dict:
        args, network, sid = self.args, self.network, self.sid
        return {
            "schema": SCHEMA,
            "pid": os.getpid(),
            "started_at": now().isoformat(),
            "state_dir": str(self.state_dir),
            "region": REGION,
            "account_id": ACCOUNT_ID,
            "host": args.host,
            "port": self.servers[0].port,
            "endpoint": endpoint,
            "task_endpoint": task_endpoint,
            "gateway": network.gateway,
            "network": network.name,
            "network_id": network.id,
            "subnet": network.subnet,
            "sandbox_id": sid,
            "label": f"{LABEL_SANDBOX}={sid}",
            "registry": args.registry,
            "bridge_port": self.bridge.server_address[1] if self.bridge else None,
            "ecs_running": args.ecs_running,
            "load_balancer_dns": target_health.LB_DNS_NAME,
            "postgres": self.postgres.public() if self.postgres else None,
            "standins": [
                {"image": repo, "local_image": self.standins[repo], "description": desc}
                for repo, (_, desc) in helper_images.STANDIN_IMAGES.items()
                if repo in self.standins
            ],
            "seed": {k: v for k, v in self.seeded.items() if k != "registry_user"} if self.seeded else None,
        }

    def stop(self, forced: bool) -> None:
        # PostgreSQL's removal (a few hundred MB of vfs copy) is the long pole: start it first
        db_gone = threading.Thread(target=teardown.remove_role, args=(self.dc, self.sid, "postgres"), daemon=True)
        db_gone.start()
        if self.proxies is not None:
            self.proxies.stop()
        if self.agent is not None:
            self.agent.shutdown(0 if forced else self.args.shutdown_grace + 5)
        if self.health is not None:
            self.health.stop()
        db_gone.join()
        removed, nets = teardown.remove_sandbox(self.dc, self.sid, grace=0)
        log.info("removed %d containers and %d networks of sandbox %s", removed, nets, self.sid)
        if self.bridge is not None:
            self.bridge.shutdown()
        for s in self.servers:
            try:
                s.stop()
            except Exception:
                pass
        if self.agent is not None and self.agent.task_endpoint is not None:
            self.agent.task_endpoint.stop()


def serve(args) -> int:
    state_dir = Path(args.state_dir).resolve()
    lock = lock_state_dir(state_dir)
    ready = state_dir / READY_FILE
    ready.unlink(missing_ok=True)
    sid = sandbox_id(state_dir)
    try:
        dc = client()
        dc.ping()
    except Exception as e:
        raise SystemExit(f"no docker daemon answers ({e}): start one first") from None

    stop = threading.Event()
    forced = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():
            forced.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    removed, nets = teardown.remove_sandbox(dc, sid)
    if removed or nets:
        log.info("removed what an earlier serve of %s left: %d containers, %d networks", state_dir, removed, nets)
    network = ensure_network(dc, args.network, sid, state_dir)
    log.info("network %s (%s, gateway %s), label %s=%s", network.name, network.subnet, network.gateway,
             LABEL_SANDBOX, sid)
    serving = Serving(args, state_dir, dc, network, sid)
    try:
        info = serving.start()
        write_json_atomic(ready, info)
        log.info("sandbox ready: moto %s (tasks: %s), registry %s; %s", info["endpoint"], info["task_endpoint"],
                 args.registry, ready)
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
        log.info("stopping: tasks get SIGTERM, SIGKILL after %ds", args.shutdown_grace)
    finally:
        ready.unlink(missing_ok=True)
        serving.stop(forced.is_set())
        lock.close()
    log.info("stopped")
    return 0


def cleanup(state_dir: Path) -> int:
    state_dir = state_dir.resolve()
    pid = state_dir_in_use(state_dir)
    if pid is not None:
        print(f"a serve (pid {pid}) still runs for {state_dir}: stop it (SIGTERM) and it removes its containers")
        return 1
    sid = sandbox_id(state_dir)
    try:
        dc = client()
        dc.ping()
    except Exception as e:
        print(f"no docker daemon answers ({e})", file=sys.stderr)
        return 1
    removed, nets = teardown.remove_sandbox(dc, sid)
    (state_dir / READY_FILE).unlink(missing_ok=True)
    print(f"removed {removed} containers and {nets} networks labelled {LABEL_SANDBOX}={sid}")
    return 0
