"""The fork server (`python -m cruddur_sandbox fork-server`): a `serve` forked
from it is a sandbox like one started afresh, on its own, with randomness
of its own; anything else is refused."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from conftest import SANDBOX_DIR, wait_for


@pytest.fixture
def fork_server(tmp_path):
    path = Path(f"/tmp/cruddur-fork-test-{uuid.uuid4().hex[:8]}.sock")  # Unix socket paths are short
    log = open(tmp_path / "fork-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cruddur_sandbox", "fork-server", "--socket", str(path)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=SANDBOX_DIR,
                            env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)))
    wait_for(lambda: path.exists() or proc.poll() is not None, 60, what="the fork server listening")
    assert proc.poll() is None, (tmp_path / "fork-server.log").read_text()
    yield proc, path
    proc.terminate()
    proc.wait(30)
    assert not path.exists(), "the fork server left its socket"


def ask(path: Path, request: dict) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(s.makefile().readline())


def serve_request(state_dir: Path, network: str) -> dict:
    state_dir.mkdir()
    return {
        "executable": sys.executable,
        "argv": ["serve", "--port", "0", "--state-dir", str(state_dir), "--registry", "127.0.0.1:9",
                 "--network", network, "--no-postgres"],
        "env": {"PATH": os.environ["PATH"], "PYTHONPATH": str(SANDBOX_DIR)},
        "cwd": str(state_dir),
        "log": str(state_dir / "aws.log"),
    }


def proc_stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from the state on


def stopped(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or proc_stat(pid)[0] == "Z"


def test_a_forked_serve_is_a_sandbox_of_its_own_with_its_own_ids(fork_server, tmp_path):
    server, path = fork_server
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pids, vpcs = [], []
    try:
        for name in ("one", "two"):
            state_dir = tmp_path / name
            answer = ask(path, serve_request(state_dir, f"sbfork-{uuid.uuid4().hex[:6]}"))
            assert "pid" in answer, answer
            pid = answer["pid"]
            pids.append(pid)
            info = wait_for(lambda: (state_dir / "agent.json").exists() and json.loads(
                (state_dir / "agent.json").read_text()), 60, what=f"{name} serving")
            # nobody's child here, in a session of its own, in the request's directory
            assert int(proc_stat(pid)[1]) != server.pid, "the served process is the server's child"
            assert int(proc_stat(pid)[3]) == pid, "not in a session of its own"
            assert os.readlink(f"/proc/{pid}/cwd") == str(state_dir)
            ec2 = boto3.client("ec2", endpoint_url=info["endpoint"], region_name="us-east-1",
                               aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
            vpcs.append(ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"])
            assert "sandbox ready" in (state_dir / "aws.log").read_text()
        # two forks of one process would draw the same ids unless each reseeds
        assert vpcs[0] != vpcs[1], vpcs
        # the server stopping leaves the sandboxes it started running
        server.terminate()
        server.wait(30)
        assert not any(stopped(pid) for pid in pids)
    finally:
        for pid in pids:
            if not stopped(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            wait_for(lambda: stopped(pid), 60, what=f"pid {pid} stopping")
    assert "stopped" in (tmp_path / "one" / "aws.log").read_text()


def test_anything_but_a_serve_of_its_own_python_is_refused_and_it_goes_on(fork_server, tmp_path):
    _, path = fork_server
    request = serve_request(tmp_path / "s", "sbfork-never")
    status = dict(request, argv=["status", "--state-dir", str(tmp_path)])
    assert "forks only serve" in ask(path, status)["error"]
    other = dict(request, executable="/usr/bin/python3")
    assert "not /usr/bin/python3" in ask(path, other)["error"]
    assert "no env" in ask(path, {k: v for k, v in request.items() if k != "env"})["error"]
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(b"not json\n")
        assert "not one JSON object" in json.loads(s.makefile().readline())["error"]
    started = time.monotonic()
    assert "forks only serve" in ask(path, status)["error"]  # still answering
    assert time.monotonic() - started < 5
    assert not (tmp_path / "s" / "aws.log").exists()
