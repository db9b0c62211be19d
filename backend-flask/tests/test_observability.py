import json
import logging
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BACKEND_DIR

from cruddur.config import Settings
from cruddur.logs import JsonFormatter
from cruddur.telemetry import otlp_traces_endpoint, parse_otlp_headers

GENERATED_ENV_KEYS = [
    "FRONTEND_URL",
    "BACKEND_URL",
    "CONNECTION_URL",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "AWS_XRAY_URL",
    "AWS_XRAY_DAEMON_ADDRESS",
    "AWS_COGNITO_USER_POOL_ID",
    "AWS_COGNITO_USER_POOL_CLIENT_ID",
    "ROLLBAR_ACCESS_TOKEN",
]

SCRIPT = r"""
import json, sys
from cruddur import create_app
app = create_app()
client = app.test_client()
client.get("/api/health-check", headers={"Authorization": "Bearer sekrit-token-value"})
client.get("/api/activities/home")
client.get("/api/users/@bayko/short", headers={"Authorization": "Bearer sekrit-token-value"})
client.post("/api/activities", json={"message": "x"}, headers={"Authorization": "Bearer sekrit-token-value"})
app.extensions["cruddur"].db.close()
optional = ("opentelemetry", "aws_xray_sdk", "rollbar", "boto3")
loaded = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in optional})
print(json.dumps({"loaded_optional_modules": loaded}), file=sys.stderr)
"""


def test_settings_empty_string_is_unset():
    env = {key: "" for key in GENERATED_ENV_KEYS}
    s = Settings.from_env(env)
    assert s == Settings()
    assert s.cors_origins == [] and not s.auth_configured and s.aws_region == "us-east-1"
    s = Settings.from_env({"AWS_DEFAULT_REGION": " eu-west-1 ", "FRONTEND_URL": "https://app.example.com/"})
    assert s.aws_region == "eu-west-1" and s.cors_origins == ["https://app.example.com"]


def test_settings_reject_bad_numbers():
    with pytest.raises(ValueError, match="DB_POOL_TIMEOUT"):
        Settings.from_env({"DB_POOL_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="GUNICORN_THREADS"):
        Settings.from_env({"GUNICORN_THREADS": "0"})


def test_integrations_off_by_default_log_only_clean_json(postgres_url, db_url):
    """A process with the generated env file's keys, the optional ones empty:
    no warning or error line, one JSON request line per request, no token in
    the logs, and none of the optional libraries imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_", "ROLLBAR_"))}
    env.update({key: "" for key in GENERATED_ENV_KEYS})
    env.update({"CONNECTION_URL": postgres_url, "PYTHONPATH": str(BACKEND_DIR)})
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env, cwd=BACKEND_DIR
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"loaded_optional_modules": []}
    assert "Traceback" not in result.stderr
    assert "sekrit" not in result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["level"] for line in lines if line["level"] not in ("info", "debug")] == []
    requests = [(x["method"], x["path"], x["status"]) for x in lines if x["logger"] == "cruddur.request"]
    assert requests == [
        ("GET", "/api/health-check", 200),
        ("GET", "/api/activities/home", 200),
        ("GET", "/api/users/@bayko/short", 200),
        ("POST", "/api/activities", 401),
    ]
    assert all(isinstance(x["duration_ms"], float) for x in lines if x["logger"] == "cruddur.request")


def test_request_log_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger="cruddur.request"):
        client.get("/api/activities/search?term=secret-search", headers={"Authorization": "Bearer abc.def.ghi"})
    record = next(r for r in caplog.records if r.name == "cruddur.request")
    assert (record.method, record.path, record.status) == ("GET", "/api/activities/search", 200)
    assert record.duration_ms >= 0
    line = json.loads(JsonFormatter().format(record))
    assert {"time", "level", "logger", "message", "method", "path", "status", "duration_ms"} <= set(line)
    assert "abc.def.ghi" not in json.dumps(line) and "secret-search" not in json.dumps(line)


def test_cors(client):
    r = client.options(
        "/api/activities",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    r = client.get("/api/activities/home", headers={"Origin": "http://localhost:4567"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:4567"
    assert "authorization" in r.headers["Access-Control-Expose-Headers"].lower()
    r = client.get("/api/activities/home", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_otlp_settings_parsing():
    assert parse_otlp_headers("x-honeycomb-team=abc%20def, other = 1,broken") == {
        "x-honeycomb-team": "abc def",
        "other": "1",
    }
    assert parse_otlp_headers(None) == {}
    assert otlp_traces_endpoint("https://api.honeycomb.io/") == "https://api.honeycomb.io/v1/traces"
    assert otlp_traces_endpoint("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


class Collector:
    def __init__(self):
        self.requests = []
        self.received = threading.Event()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.requests.append((self.path, dict(self.headers), body))
                collector.received.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_opentelemetry_exports_spans_when_configured(make_app, db_url):
    collector = Collector()
    try:
        app = make_app(
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_EXPORTER_OTLP_HEADERS="x-honeycomb-team=test%20key",
            OTEL_SERVICE_NAME="backend-flask-test",
        )
        assert app.test_client().get("/api/activities/home").status_code == 200
        provider = app.extensions["cruddur"].tracer_provider
        assert provider is not None
        provider.force_flush()
        assert collector.received.wait(10)
        path, headers, body = collector.requests[0]
        assert path == "/v1/traces"
        assert {k.lower(): v for k, v in headers.items()}["x-honeycomb-team"] == "test key"
        assert b"backend-flask-test" in body and b"/api/activities/home" in body
        provider.shutdown()
    finally:
        collector.close()


def test_xray_sends_segments_when_configured(make_app, db_url):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        app = make_app(AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}", AWS_XRAY_URL="*localhost*")
        assert app.test_client().get("/api/users/@bayko/short").status_code == 200
        datagram = daemon.recv(65536).decode()
    header, segment = datagram.split("\n", 1)
    assert json.loads(header)["format"] == "json"
    segment = json.loads(segment)
    assert segment["name"] == "localhost"
    assert segment["http"]["request"]["url"].endswith("/api/users/@bayko/short")
    assert segment["http"]["response"]["status"] == 200


def test_unresolvable_xray_daemon_is_reported_once_and_left_off(make_app, db_url, caplog):
    with caplog.at_level(logging.WARNING):
        app = make_app(AWS_XRAY_DAEMON_ADDRESS="xray-daemon.invalid:2000")
        client = app.test_client()
        for _ in range(3):
            assert client.get("/api/users/@bayko/short").status_code == 200
    assert app.extensions["cruddur"].xray_recorder is None
    unavailable = [r for r in caplog.records if "X-Ray daemon unavailable" in r.getMessage()]
    assert len(unavailable) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_rollbar_reports_unhandled_errors_when_configured(make_app, monkeypatch):
    import rollbar

    reported = []
    monkeypatch.setattr(rollbar, "report_exc_info", lambda exc_info=None, *a, **k: reported.append(exc_info))
    app = make_app(ROLLBAR_ACCESS_TOKEN="test-token", ROLLBAR_ENVIRONMENT="test")

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("kaboom")

    client = app.test_client()
    assert client.get("/api/boom").status_code == 500
    assert client.get("/api/health-check").status_code == 200
    assert len(reported) == 1 and isinstance(reported[0][1], RuntimeError)
    # client errors are not reported
    assert client.get("/api/activities/search").status_code == 400
    assert len(reported) == 1


def test_rollbar_token_off_means_rollbar_off(make_app, monkeypatch):
    import rollbar

    reported = []
    monkeypatch.setattr(rollbar, "report_exc_info", lambda exc_info=None, *a, **k: reported.append(exc_info))
    app = make_app(ROLLBAR_ACCESS_TOKEN="off")

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("kaboom")

    assert app.test_client().get("/api/boom").status_code == 500
    assert reported == []
