"""JSON errors: every failure answers ``{"error": "<readable message>"}``."""

from __future__ import annotations

import logging

from flask import Flask, current_app, got_request_exception, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("cruddur.errors")


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    status = 400

    def __init__(self, message: str, status: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="cruddur"'})


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class ServiceUnavailable(ApiError):
    status = 503


class DatabaseUnavailable(ServiceUnavailable):
    def __init__(self, message: str = "database unavailable"):
        super().__init__(message)


class MessagesUnavailable(ServiceUnavailable):
    def __init__(self, message: str = "message store unavailable"):
        super().__init__(message)


_HTTP_MESSAGES = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    415: "unsupported media type",
}


def error_response(message: str, status: int, headers: dict | None = None):
    response = jsonify({"error": message})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        # 503s were logged, with their cause, where they were raised.
        return error_response(exc.message, exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _HTTP_MESSAGES.get(status) or (exc.name or "error").lower()
        response = error_response(message, status)
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        # Error trackers (Rollbar) listen to this signal; Flask does not send it
        # itself for exceptions that have a handler, as this one does.
        got_request_exception.send(current_app._get_current_object(), exception=exc)
        return error_response("internal server error", 500)
