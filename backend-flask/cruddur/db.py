"""PostgreSQL access through a psycopg 3 connection pool.

The pool is created and opened on first use, so the app (and its health check)
starts and answers without a database.  Any failure to reach the database is
turned into :class:`DatabaseUnavailable` (503).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from .config import Settings
from .errors import DatabaseUnavailable

log = logging.getLogger("cruddur.db")


class Database:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._settings.connection_url)

    def _get_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None:
            return pool
        if not self._settings.connection_url:
            log.warning("CONNECTION_URL is not set")
            raise DatabaseUnavailable()
        with self._lock:
            if self._pool is None:
                s = self._settings
                pool = ConnectionPool(
                    s.connection_url,
                    min_size=min(s.db_pool_min_size, s.db_pool_max_size),
                    max_size=s.db_pool_max_size,
                    timeout=s.db_pool_timeout,
                    # Give up a failing background reconnection after a while; the
                    # next request that needs a connection starts a new attempt.
                    reconnect_timeout=max(s.db_pool_timeout * 10, 30.0),
                    kwargs={
                        "connect_timeout": max(1, int(round(s.db_connect_timeout))),
                        "application_name": "cruddur-backend",
                        "options": "-c timezone=UTC",
                        "row_factory": dict_row,
                    },
                    name="cruddur",
                    open=False,
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside a transaction (committed on success)."""
        pool = self._get_pool()
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            log.warning("database unavailable: no connection within %.1fs", self._settings.db_pool_timeout)
            raise DatabaseUnavailable() from exc
        except psycopg.OperationalError as exc:
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise DatabaseUnavailable() from exc

    def fetch_all(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def fetch_one(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=2)
