"""Helpers shared by the one-off commands in ``bin/`` (db-setup, ddb-setup,
update-cognito-user-ids): errors as one line, never a password."""

from __future__ import annotations

from urllib.parse import urlsplit


def password_of(url: str | None) -> str | None:
    try:
        return urlsplit(url or "").password or None
    except ValueError:
        return None


def one_line(exc: BaseException | str, secret: str | None = None) -> str:
    """An error message on one line, with ``secret`` masked if it appears."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text.replace(secret, "***") if secret else text


def describe_database(url: str) -> str:
    """``host:port/dbname`` of a PostgreSQL URL: what a log may say about it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the database"
    name = parts.path.lstrip("/") or "postgres"
    return f"{host}:{port}/{name}"
