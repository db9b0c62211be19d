import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BACKEND_DIR, free_port, stop_process, wait_for_port

HEALTH_CHECK = str(BACKEND_DIR / "bin" / "health-check")


def run_health_check(*args, env=None):
    return subprocess.run(
        [HEALTH_CHECK, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_health_check_route(client):
    r = client.get("/api/health-check")
    assert r.status_code == 200
    assert r.get_json() == {"success": True, "ver": 1}


def test_health_check_needs_no_settings_at_all():
    from cruddur import create_app

    app = create_app({}, json_logs=False)
    assert app.test_client().get("/api/health-check").get_json() == {"success": True, "ver": 1}
    # and the DB routes say the database is unavailable
    r = app.test_client().get("/api/activities/home")
    assert r.status_code == 503 and r.get_json() == {"error": "database unavailable"}


def test_bin_health_check_is_executable_stdlib_only():
    assert os.access(HEALTH_CHECK, os.X_OK)
    source = open(HEALTH_CHECK).read()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= set(sys.stdlib_module_names)


def test_bin_health_check_live_server(live_server):
    result = run_health_check(f"{live_server.url}/api/health-check")
    assert result.returncode == 0, result.stderr
    # the URL may also come from the environment
    result = run_health_check(env={"HEALTH_CHECK_URL": f"{live_server.url}/api/health-check"})
    assert result.returncode == 0, result.stderr


def test_bin_health_check_dead_port():
    result = run_health_check(f"http://127.0.0.1:{free_port()}/api/health-check")
    assert result.returncode == 1
    assert "failed" in result.stderr


@pytest.mark.parametrize(
    "status, body",
    [(500, b'{"error": "boom"}'), (200, b'{"success": false}'), (200, b"not json"), (404, b"")],
)
def test_bin_health_check_unhealthy_answers(status, body):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_health_check(f"http://127.0.0.1:{server.server_address[1]}/api/health-check")
        assert result.returncode == 1
    finally:
        server.shutdown()
        server.server_close()


def test_bin_health_check_times_out_quickly():
    import socket
    import time

    # a socket that accepts connections but never answers
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        started = time.monotonic()
        result = run_health_check(
            f"http://127.0.0.1:{listener.getsockname()[1]}/api/health-check", env={"HEALTH_CHECK_TIMEOUT": "1"}
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 10


def test_gunicorn_serves_the_app_with_the_production_config(base_env, db_url):
    """The production command line (gunicorn.conf.py) on a loopback port."""
    port = free_port()
    env = {**os.environ, **base_env, "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "2"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "cruddur.wsgi:app",
        ],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc=proc)
        result = run_health_check(f"http://127.0.0.1:{port}/api/health-check")
        assert result.returncode == 0, result.stderr
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/activities/home", timeout=10) as r:
            assert r.status == 200
            assert len(json.loads(r.read())) == 4
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        stop_process(proc)
    lines = [json.loads(line) for line in (out + err).splitlines() if line.strip()]
    requests = [line for line in lines if line.get("message") == "request"]
    assert {(r["method"], r["path"], r["status"]) for r in requests} >= {
        ("GET", "/api/health-check", 200),
        ("GET", "/api/activities/home", 200),
    }
    assert not [line for line in lines if line["level"] in ("warning", "error", "critical")]
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]  # no duplicate request lines


def test_bin_health_check_default_url_follows_port(live_server):
    result = run_health_check(env={"PORT": str(live_server.port), "HEALTH_CHECK_URL": ""})
    assert result.returncode == 0, result.stderr
    assert f"http://localhost:{live_server.port}/api/health-check ok" in result.stdout
