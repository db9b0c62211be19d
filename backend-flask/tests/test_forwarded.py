"""gunicorn trusts X-Forwarded-* (and the forwarder headers SCRIPT_NAME /
PATH_INFO) only from FORWARDED_ALLOW_IPS: the load balancer's addresses or
networks, default 127.0.0.1, never "*" (issue 20).

Real gunicorn processes with the production gunicorn.conf.py, serving a probe
app that echoes what gunicorn put in the WSGI environ. The test client is
127.0.0.1; a "load balancer network" that excludes it makes the client an
untrusted peer."""

import http.client
import json
import os
import runpy
import subprocess
import sys

import pytest

from conftest import BACKEND_DIR, free_port, stop_process, wait_for_port

CONF = BACKEND_DIR / "gunicorn.conf.py"
# SCRIPT_NAME from a trusted proxy re-roots the app: /api/health-check becomes /health-check.
SPOOF = {"X-Forwarded-Proto": "https", "SCRIPT_NAME": "/api"}


def load_conf(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    return runpy.run_path(str(CONF))


def start_gunicorn(allow_ips):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    env.update({"GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "1"})
    if allow_ips is not None:
        env["FORWARDED_ALLOW_IPS"] = allow_ips
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(CONF),
            "--bind",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(BACKEND_DIR / "tests"),
            "forwarded_probe:app",
        ],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port


def probe(port, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/health-check", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def gunicorn_with():
    procs = []

    def start(allow_ips):
        proc, port = start_gunicorn(allow_ips)
        procs.append(proc)
        wait_for_port(port, proc=proc)
        return port

    yield start
    for proc in procs:
        stop_process(proc)
        proc.communicate(timeout=30)


def test_peer_outside_the_load_balancer_network_cannot_spoof(gunicorn_with):
    port = gunicorn_with("10.0.0.0/16, 10.1.0.0/16")
    seen = probe(port, SPOOF)
    assert seen == {"scheme": "http", "script_name": "", "path_info": "/api/health-check"}


def test_default_trusts_only_loopback(gunicorn_with):
    # The default is 127.0.0.1: this test's client is the trusted peer here.
    port = gunicorn_with(None)
    assert probe(port, SPOOF)["scheme"] == "https"
    assert probe(port, {})["scheme"] == "http"


def test_cidr_of_the_load_balancer_network_is_trusted(gunicorn_with):
    port = gunicorn_with("10.0.0.0/16,127.0.0.0/8")
    seen = probe(port, SPOOF)
    # a trusted proxy may set these; an untrusted peer cannot (above)
    assert seen == {"scheme": "https", "script_name": "/api", "path_info": "/health-check"}


@pytest.mark.parametrize(
    "value, message",
    [
        ("*", "FORWARDED_ALLOW_IPS: '*' would trust X-Forwarded-* from anyone; list the load balancer's addresses or networks (e.g. 10.0.0.0/16)"),
        ("10.0.0.0/16,*", "FORWARDED_ALLOW_IPS: '*' would trust X-Forwarded-* from anyone; list the load balancer's addresses or networks (e.g. 10.0.0.0/16)"),
        ("10.0.0.5/16", "FORWARDED_ALLOW_IPS: '10.0.0.5/16' is not an IP address or network (a network has no host bits: 10.0.0.0/16)"),
        ("alb.internal", "FORWARDED_ALLOW_IPS: 'alb.internal' is not an IP address or network (a network has no host bits: 10.0.0.0/16)"),
    ],
)
def test_star_or_nonsense_refuses_to_start(monkeypatch, value, message):
    with pytest.raises(SystemExit) as exc:
        load_conf(monkeypatch, value)
    assert str(exc.value) == message

    proc, port = start_gunicorn(value)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode != 0
    # gunicorn reads FORWARDED_ALLOW_IPS itself too, and rejects a malformed
    # entry before our config runs, in one line of its own naming the value.
    (line,) = err.strip().splitlines()
    assert line == message or (line.startswith("Error: ") and value in line), line


def test_settings_parse(monkeypatch):
    assert load_conf(monkeypatch, None)["forwarded_allow_ips"] == "127.0.0.1"
    assert load_conf(monkeypatch, "")["forwarded_allow_ips"] == "127.0.0.1"
    assert load_conf(monkeypatch, " 10.0.1.0/24 , 10.0.2.0/24,fd00::/8 ")["forwarded_allow_ips"] == (
        "10.0.1.0/24,10.0.2.0/24,fd00::/8"
    )
