"""Optional integrations, each switched on only when its settings are present:

* OpenTelemetry traces over OTLP/HTTP: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (+ ``OTEL_EXPORTER_OTLP_HEADERS``,
  ``OTEL_SERVICE_NAME``);
* AWS X-Ray: ``AWS_XRAY_DAEMON_ADDRESS`` (``AWS_XRAY_URL`` names segments dynamically);
* Rollbar: ``ROLLBAR_ACCESS_TOKEN``.

Their libraries are imported only when switched on.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import unquote

from flask import Flask, got_request_exception

from .config import Settings

log = logging.getLogger("cruddur.telemetry")


def parse_otlp_headers(raw: str | None) -> dict[str, str]:
    """``k1=v1,k2=v2`` (values URL-encoded, as the OTel spec says)."""
    headers: dict[str, str] = {}
    for part in (raw or "").split(","):
        if "=" not in part:
            continue
        key, value = part.split("=", 1)
        key, value = unquote(key.strip()), unquote(value.strip())
        if key:
            headers[key] = value
    return headers


def otlp_traces_endpoint(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def init_opentelemetry(app: Flask, settings: Settings) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    exporter = OTLPSpanExporter(
        endpoint=otlp_traces_endpoint(settings.otel_exporter_otlp_endpoint),
        headers=parse_otlp_headers(settings.otel_exporter_otlp_headers),
        timeout=5,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # The global provider can be set once per process; the app keeps its own.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls="api/health-check")
    app.extensions["cruddur"].tracer_provider = provider
    log.info("OpenTelemetry tracing on", extra={"service": settings.otel_service_name})


def xray_daemon_resolves(address: str) -> bool:
    """The local stack names the daemon `xray-daemon:2000`, which exists only
    under compose's `xray` profile: without it, report once instead of
    logging a failed send for every request."""
    host, _, port = address.rpartition(":")
    try:
        socket.getaddrinfo(host or "127.0.0.1", int(port), type=socket.SOCK_DGRAM)
    except (OSError, ValueError):
        return False
    return True


def init_xray(app: Flask, settings: Settings) -> None:
    if not xray_daemon_resolves(settings.xray_daemon_address):
        log.warning(
            "X-Ray daemon unavailable: X-Ray stays off",
            extra={"daemon_address": settings.xray_daemon_address},
        )
        return
    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.sampling.local.sampler import LocalSampler
    from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

    recorder = AWSXRayRecorder()
    recorder.configure(
        service=settings.otel_service_name,
        daemon_address=settings.xray_daemon_address,
        dynamic_naming=settings.xray_url or None,
        context_missing="IGNORE_ERROR",
        plugins=(),
        # Local rules (the first request each second, then 5%): no poller
        # threads talking to the daemon's sampling API.
        sampler=LocalSampler(),
    )
    XRayMiddleware(app, recorder)
    app.extensions["cruddur"].xray_recorder = recorder
    log.info("X-Ray on", extra={"daemon_address": settings.xray_daemon_address})


def init_rollbar(app: Flask, settings: Settings) -> None:
    import rollbar

    rollbar.init(
        settings.rollbar_access_token,
        environment=settings.rollbar_environment,
        root=app.root_path,
        allow_logging_basic_config=False,
    )

    def _report(sender, exception, **extra):
        rollbar.report_exc_info((type(exception), exception, exception.__traceback__))

    got_request_exception.connect(_report, app, weak=False)
    log.info("Rollbar on", extra={"environment": settings.rollbar_environment})


def init_integrations(app: Flask, settings: Settings) -> None:
    for enabled, init, name in (
        (settings.otel_exporter_otlp_endpoint, init_opentelemetry, "OpenTelemetry"),
        (settings.xray_daemon_address, init_xray, "X-Ray"),
        (settings.rollbar_access_token, init_rollbar, "Rollbar"),
    ):
        if not enabled:
            continue
        try:
            init(app, settings)
        except Exception:
            # An observability add-on must never keep the API from starting.
            log.exception("%s could not be switched on", name)
