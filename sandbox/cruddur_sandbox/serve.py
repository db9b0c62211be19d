"""`python -m cruddur_sandbox serve`: the sandbox account in one process."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from . import dockerx, ecs_patch, web_identity
from . import elb as elb_mod
from .agent import STANDIN_IMAGES, Agent
from .datastores import CONNECTION_URL_PARAMETER
from .motoserver import MotoServer
from .proxy import Proxies
from .util import ACCOUNT_ID, LABEL_SANDBOX, REGION, now, sandbox_id, write_json_atomic

log = logging.getLogger("cruddur_sandbox.serve")

READY_FILE = "agent.json"
LOCK_FILE = "agent.lock"
SCHEMA = 1


def lock_state_dir(state_dir: Path):
    """One serve per state directory. Returns the open lock file (keep it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    f = open(state_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        raise SystemExit(f"another `serve` uses {state_dir} (pid {f.read().strip() or '?'}); stop it first") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def state_dir_in_use(state_dir: Path) -> int | None:
    """The pid of a live serve holding the state dir's lock, else None."""
    path = state_dir / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def serve(args) -> int:
    state_dir = Path(args.state_dir).resolve()
    lock = lock_state_dir(state_dir)
    ready = state_dir / READY_FILE
    ready.unlink(missing_ok=True)
    sid = sandbox_id(state_dir)
    try:
        dc = dockerx.client()
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

    removed, nets = dockerx.remove_sandbox(dc, sid)
    if removed or nets:
        log.info("removed what an earlier serve of %s left: %d containers, %d networks", state_dir, removed, nets)
    network = dockerx.ensure_network(dc, args.network, sid)
    log.info("network %s (%s, gateway %s), label %s=%s", network.name, network.subnet, network.gateway,
             LABEL_SANDBOX, sid)

    servers: list[MotoServer] = []
    elb = None
    proxies = None
    agent = None
    bridge = None
    try:
        pool = ThreadPoolExecutor(max_workers=3)
        pause_f = pool.submit(dockerx.ensure_pause_image, dc)
        xray_f = pool.submit(dockerx.ensure_xray_standin, dc)
        pg_f = None
        if not args.no_postgres:
            from . import datastores

            pg_f = pool.submit(datastores.start, dc, network, sid, args.postgres_image)
        xray_image = xray_f.result()
        standins = {repo: xray_image for repo, (kind, _) in STANDIN_IMAGES.items() if kind == "xray"}

        # moto first on loopback, then the same app on the gateway for containers
        try:
            servers.append(MotoServer(args.host, args.port))
        except OSError as e:
            raise SystemExit(f"moto cannot listen on {args.host}:{args.port} ({e}): pick another --port") from None
        port = servers[0].port
        try:
            servers.append(MotoServer(network.gateway, port))
        except OSError:
            servers.append(MotoServer(network.gateway, 0))
        endpoint = f"http://{args.host}:{port}"
        task_endpoint = f"http://{network.gateway}:{servers[1].port}"

        elb = elb_mod.Elb()
        agent = Agent(
            docker=dc,
            sandbox=sid,
            network=network,
            registry=args.registry,
            pause_image=pause_f.result(),
            standins=standins,
            endpoint=endpoint,
            hold=args.ecs_running == 0,
            shutdown_grace=args.shutdown_grace,
        )
        agent.elb = elb
        ecs_patch.install(agent)
        elb_mod.install(elb)
        web_identity.install(state_dir)
        for s in servers:
            s.start()

        seeded = None
        if args.seed_policies:
            from .seed import seed

            seeded = seed(endpoint, args.seed_policies, args.htpasswd, os.environ.get("SANDBOX_REGISTRY_PASSWORD"))
            log.info("seeded: subnets %s, security group %s", ",".join(seeded["subnets"]), seeded["security_group"])
        pg = pg_f.result() if pg_f is not None else None
        if pg is not None:
            agent.aws("ssm").put_parameter(
                Name=CONNECTION_URL_PARAMETER, Value=pg.url, Type="SecureString", Overwrite=True
            )
            log.info("SSM %s points at the sandbox's PostgreSQL (%s:5432)", CONNECTION_URL_PARAMETER, pg.alias)
        pool.shutdown(wait=False)

        if args.bridge_port is not None:
            from .ecr_bridge import serve as serve_bridge

            from .ecr_bridge import secret_from_env

            bridge = serve_bridge("127.0.0.1", args.bridge_port, args.registry, endpoint, secret_from_env())
            log.info("ECR push bridge on http://127.0.0.1:%d/events", bridge.server_address[1])

        agent.start()
        elb.start()
        proxies = Proxies(elb)
        proxies.start()

        info = {
            "schema": SCHEMA,
            "pid": os.getpid(),
            "started_at": now().isoformat(),
            "state_dir": str(state_dir),
            "region": REGION,
            "account_id": ACCOUNT_ID,
            "host": args.host,
            "port": port,
            "endpoint": endpoint,
            "task_endpoint": task_endpoint,
            "gateway": network.gateway,
            "network": network.name,
            "network_id": network.id,
            "subnet": network.subnet,
            "sandbox_id": sid,
            "label": f"{LABEL_SANDBOX}={sid}",
            "registry": args.registry,
            "bridge_port": bridge.server_address[1] if bridge else None,
            "ecs_running": args.ecs_running,
            "load_balancer_dns": elb_mod.LB_DNS_NAME,
            "postgres": pg.public() if pg else None,
            "standins": [
                {"image": repo, "local_image": standins[repo], "description": desc}
                for repo, (_, desc) in STANDIN_IMAGES.items()
                if repo in standins
            ],
            "seed": {k: v for k, v in seeded.items() if k != "registry_user"} if seeded else None,
        }
        write_json_atomic(ready, info)
        log.info("sandbox ready: moto %s (tasks: %s), registry %s; %s", endpoint, task_endpoint, args.registry, ready)
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
        log.info("stopping: tasks get SIGTERM, SIGKILL after %ds", args.shutdown_grace)
    finally:
        ready.unlink(missing_ok=True)
        # PostgreSQL's removal (a few hundred MB of vfs copy) is the long pole: start it first
        db_gone = threading.Thread(target=dockerx.remove_role, args=(dc, sid, "postgres"), daemon=True)
        db_gone.start()
        if proxies is not None:
            proxies.stop()
        if agent is not None:
            agent.shutdown(0 if forced.is_set() else args.shutdown_grace + 5)
        if elb is not None:
            elb.stop()
        db_gone.join()
        removed, nets = dockerx.remove_sandbox(dc, sid, grace=0)
        log.info("removed %d containers and %d networks of sandbox %s", removed, nets, sid)
        if bridge is not None:
            bridge.shutdown()
        for s in servers:
            try:
                s.stop()
            except Exception:
                pass
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
        dc = dockerx.client()
        dc.ping()
    except Exception as e:
        print(f"no docker daemon answers ({e})", file=sys.stderr)
        return 1
    removed, nets = dockerx.remove_sandbox(dc, sid)
    (state_dir / READY_FILE).unlink(missing_ok=True)
    print(f"removed {removed} containers and {nets} networks labelled {LABEL_SANDBOX}={sid}")
    return 0


def wait_ready(state_dir: Path, timeout: float) -> dict:
    """For tests and tools: waits for agent.json."""
    import json

    path = Path(state_dir) / READY_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.2)
    raise TimeoutError(f"{path} did not appear within {timeout}s")


__all__ = ["serve", "cleanup", "wait_ready", "docker"]
