"""Structured JSON logs on stdout, and the per-request log line."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

from flask import Flask, g, request

REQUEST_LOGGER = "cruddur.request"

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO, stream=None) -> None:
    """Send every log record to stdout as one JSON object a line (idempotent)."""
    root = logging.getLogger()
    # Already done (a second app, or gunicorn.conf.py's logconfig_dict).
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(level)
    # Third-party chatter that is noise at INFO.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def install_request_logging(app: Flask) -> None:
    log = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def _start_timer():
        g._cruddur_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.pop("_cruddur_started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        # Only the method, the path (no query string) and the outcome: never
        # headers (Authorization) nor bodies.
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response
