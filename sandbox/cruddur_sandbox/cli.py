"""python -m cruddur_sandbox {serve,status,check,cleanup,seed,ecr-bridge,oidc-token,fork-server}"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import botocore_models


def parser() -> argparse.ArgumentParser:
    # Here, not at the top: it imports docker, which `oidc-token`, `seed` and `ecr-bridge` do without.
    from .postgres import POSTGRES_IMAGE

    p = argparse.ArgumentParser(prog="python -m cruddur_sandbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="moto + the local ECS agent + the load balancer + PostgreSQL, until SIGTERM")
    s.add_argument("--port", type=int, required=True, help="moto's port on --host (0: any free port)")
    s.add_argument("--host", default="127.0.0.1", help="loopback address for moto (default 127.0.0.1)")
    s.add_argument("--state-dir", required=True, type=Path, help="where agent.json and the lock go")
    s.add_argument("--registry", required=True, help="the sandbox registry, host:port (e.g. 127.0.0.1:4701)")
    s.add_argument("--network", required=True, help="the docker network this sandbox creates and owns")
    s.add_argument("--ecs-running", type=int, default=1,
                   help="0: tasks are provisioned but never started (deployments stay IN_PROGRESS); default 1")
    s.add_argument("--bridge-port", type=int, default=None,
                   help="serve the ECR push bridge (registry notifications -> ECR PutImage) on this loopback port")
    s.add_argument("--seed-policies", type=Path, default=None,
                   help="seed the account (VPC subnets, security group, IAM roles from this policies dir, log group, "
                        "SSM parameters, namespace)")
    s.add_argument("--htpasswd", type=Path, default=None,
                   help="with --seed-policies: write the registry's htpasswd entry (ECR's user and token) here")
    s.add_argument("--no-postgres", action="store_true", help="do not run the account's PostgreSQL")
    s.add_argument("--postgres-image", default=POSTGRES_IMAGE)
    s.add_argument("--shutdown-grace", type=int, default=5,
                   help="seconds between SIGTERM and SIGKILL for tasks when the sandbox stops (default 5)")
    s.add_argument("--task-credentials-seconds", type=int, default=6 * 3600,
                   help="how long the task role credentials tasks get last (default 21600, ECS's six hours); "
                        "renewed while min(1800, half of it) is left")
    s.add_argument("-v", "--verbose", action="store_true")

    st = sub.add_parser("status", help="services, tasks, load balancers and stand-ins of a running sandbox")
    st.add_argument("--state-dir", required=True, type=Path)
    st.add_argument("--stopped", type=int, default=3, help="stopped tasks to show per service (default 3)")

    ck = sub.add_parser("check", help="is the seeded account whole? re-seeds what a re-seed restores; one line: "
                                      "whole, re-seeded: ..., or lost: ... (only a restart heals it)")
    ck.add_argument("--state-dir", required=True, type=Path)
    ck.add_argument("--policies", required=True, type=Path)

    c = sub.add_parser("cleanup", help="remove what a crashed serve of this state dir left (containers, network)")
    c.add_argument("--state-dir", required=True, type=Path)

    sub.add_parser("seed", help="seed a moto endpoint (the former seed.py)", add_help=False)
    sub.add_parser("ecr-bridge", help="the ECR push bridge as its own process (the former ecr_bridge.py)",
                   add_help=False)
    sub.add_parser("oidc-token", help="an OIDC token signed with the sandbox's key (oidc_issuer.py)", add_help=False)
    sub.add_parser("fork-server", help="fork `serve`s from a process that has imported them (fork_server.py)",
                   add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "seed":
        from .seed import main as seed_main

        return seed_main(argv[1:])
    if argv and argv[0] == "ecr-bridge":
        from .ecr_bridge import main as bridge_main

        return bridge_main(argv[1:])
    if argv and argv[0] == "fork-server":
        from .fork_server import main as fork_server_main

        return fork_server_main(argv[1:])
    if argv and argv[0] == "oidc-token":
        from .oidc_issuer import main as token_main

        return token_main(argv[1:])
    args = parser().parse_args(argv)
    if args.command == "serve":
        # before moto is imported: its EC2 models parse botocore's files then
        botocore_models.parse_once()
        from .serve import serve

        setup_logging(args.verbose)
        if args.htpasswd and not args.seed_policies:
            print("--htpasswd needs --seed-policies", file=sys.stderr)
            return 2
        try:
            return serve(args)
        except SystemExit as e:
            if isinstance(e.code, str):
                print(f"serve: {e.code}", file=sys.stderr)
                return 2
            raise
    if args.command == "status":
        from .status import status

        return status(args.state_dir, args.stopped)
    if args.command == "check":
        from .account_check import check

        return check(args.state_dir, args.policies)
    if args.command == "cleanup":
        from .serve import cleanup

        return cleanup(args.state_dir)
    return 2


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # moto's werkzeug request log is noise in the sandbox log unless asked for
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("urllib3", "docker", "botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
