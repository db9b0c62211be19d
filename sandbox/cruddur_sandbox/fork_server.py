"""`python -m cruddur_sandbox fork-server --socket PATH`: a process that has
imported what `serve` needs and forks a `serve` for each request.

A sandbox's start spent 2.3 of its 3 s of CPU importing moto and the agent
(moto's EC2 models build their regions and instance types at import), in
each of some 40 sandboxes a test run starts (2026-12-03). `cargo xtask test`
runs one fork server for the run and `sandbox up --fork-server SOCKET` asks
it for the server instead of starting Python afresh.

One request per connection, one JSON line each way:
  -> {"executable": ..., "argv": ["serve", ...], "env": {...}, "cwd": ..., "log": ...}
  <- {"pid": N}, or {"error": "..."}
The served process is a grandchild (the child exits at once), so, like a
process the tool starts itself, it belongs to nobody here once it runs: it
runs in a session of its own, with the environment, directory and log the
request names, and reseeded random number generators (a fork would repeat
the server's sequence in every sandbox: moto's ids come from one). The
socket is the caller's to protect (mode 0600 here); requests carry the
sandbox's secrets in `env`, never on a command line."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import signal
import socket
import sys
import threading
from pathlib import Path

from . import botocore_models

# moto's services the sandbox serves: imported here so a forked server finds
# them imported too (moto imports a service on its first request).
SERVICES = ["acm", "cognitoidp", "dynamodb", "ec2", "ecr", "ecs", "elbv2", "iam", "logs", "secretsmanager",
            "servicediscovery", "ssm", "sts"]
COMMANDS = {"serve"}


def prepare() -> None:
    """Everything a served process would import, imported once."""
    botocore_models.parse_once()
    from . import serve  # noqa: F401  (the import is the point)

    for service in SERVICES:
        importlib.import_module(f"moto.{service}.urls")
    # Objects made so far are never collected: a child's collections then do
    # not touch (and so copy) the server's pages.
    gc.freeze()


def refusal(request: dict) -> str | None:
    """Why this server cannot serve `request` as a fresh Python would, if it cannot."""
    executable = request.get("executable")
    if not isinstance(executable, str) or os.path.abspath(executable) != os.path.abspath(sys.executable):
        return f"this fork server runs {sys.executable}, not {executable}"
    argv = request.get("argv")
    if not isinstance(argv, list) or not argv or argv[0] not in COMMANDS:
        return f"it forks only {', '.join(sorted(COMMANDS))}, not {argv!r}"
    if threading.active_count() != 1:
        return "it runs threads, so it cannot fork safely"
    for key in ("env", "cwd", "log"):
        if key not in request:
            return f"the request has no {key}"
    return None


def become(request: dict) -> list[str]:
    """In the served process: its session, directory, environment, output and
    randomness; returns its arguments."""
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    random.seed()
    from moto.moto_api._internal import mock_random

    mock_random.seed()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.argv = [sys.argv[0], *request["argv"]]
    return list(request["argv"])


def answer(conn: socket.socket, reply: dict) -> None:
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass  # the caller went away; it will say so itself


def fork_for(conn: socket.socket, listener: socket.socket, request: dict) -> list[str] | None:
    """Forks the served process; returns its arguments in it, None here."""
    child = os.fork()
    if child != 0:
        os.waitpid(child, 0)
        return None
    # The child: forks the served process, says its pid, and leaves.
    try:
        listener.close()
        grandchild = os.fork()
    except BaseException:  # noqa: BLE001 (the caller hears nothing and says so)
        os._exit(1)
    if grandchild == 0:
        return served(conn, request)
    answer(conn, {"pid": grandchild})
    os._exit(0)


def served(conn: socket.socket, request: dict) -> list[str]:
    """The served process: never back in the server's loop, whatever fails."""
    try:
        conn.close()
        return become(request)
    except BaseException as e:  # noqa: BLE001 (anything, or it would serve requests itself)
        print(f"fork server: could not become {request.get('argv')!r}: {e}", file=sys.stderr, flush=True)
        os._exit(1)


def serve_requests(listener: socket.socket) -> list[str]:
    """Answers requests until one is forked; returns that one's arguments
    (only ever in the forked process: the server loops until signalled)."""
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                request = json.loads(conn.makefile("rb").readline() or b"null")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                answer(conn, {"error": "the request is not one JSON object on one line"})
                continue
            why = refusal(request)
            if why is not None:
                answer(conn, {"error": why})
                continue
            argv = fork_for(conn, listener, request)
            if argv is not None:
                return argv


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m cruddur_sandbox fork-server", description=__doc__.split("\n")[0])
    p.add_argument("--socket", required=True, type=Path, help="the Unix socket to listen on (made mode 0600)")
    args = p.parse_args(argv)
    prepare()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    args.socket.unlink(missing_ok=True)
    old = os.umask(0o177)
    try:
        listener.bind(str(args.socket))
    finally:
        os.umask(old)
    listener.listen(16)

    def stop(_sig, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server = os.getpid()
    print(f"fork server ready on {args.socket} (pid {server})", flush=True)
    try:
        forked = serve_requests(listener)
    except SystemExit:
        if os.getpid() == server:  # not a served process signalled before it became one
            args.socket.unlink(missing_ok=True)
        raise
    from .cli import main as cli_main

    return cli_main(forked)
