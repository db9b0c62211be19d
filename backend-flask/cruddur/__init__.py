"""Cruddur's API: ``create_app()`` builds the Flask app from environment settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from flask import Flask, jsonify

from .auth import TokenVerifier
from .config import Settings
from .db import Database
from .ddb import MessageStore
from .errors import register_error_handlers
from .logs import configure_logging, install_request_logging
from .signup import CognitoDirectory

__all__ = ["create_app", "Settings"]

log = logging.getLogger("cruddur")


@dataclass
class Services:
    settings: Settings
    db: Database
    messages: MessageStore
    verifier: TokenVerifier
    cognito: CognitoDirectory
    tracer_provider: Any = None
    xray_recorder: Any = None


def create_app(settings: Settings | Mapping[str, str] | None = None, *, json_logs: bool = True) -> Flask:
    """The app.  ``settings``: a :class:`Settings`, a mapping read like the
    environment, or None for the process environment."""
    if not isinstance(settings, Settings):
        settings = Settings.from_env(settings)
    if json_logs:
        configure_logging()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.json.sort_keys = False
    app.extensions["cruddur"] = Services(
        settings=settings,
        db=Database(settings),
        messages=MessageStore(settings),
        verifier=TokenVerifier(settings),
        cognito=CognitoDirectory(settings),
    )

    if settings.cors_origins:
        from flask_cors import CORS

        CORS(
            app,
            resources={r"/api/*": {"origins": settings.cors_origins}},
            expose_headers=["Authorization", "Location", "Link"],
            allow_headers=["Content-Type", "Authorization", "If-Modified-Since", "traceparent"],
            methods=["GET", "HEAD", "POST", "OPTIONS"],
            max_age=600,
        )

    register_error_handlers(app)
    install_request_logging(app)

    @app.get("/api/health-check")
    def health_check():
        return jsonify({"success": True, "ver": 1})

    from . import activities, messages, users

    app.register_blueprint(activities.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(messages.bp)

    from .telemetry import init_integrations

    init_integrations(app, settings)
    return app
