"""The key set (JWKS) cache under a slow or failing Cognito (issue 23).

A real local HTTP server stands in for Cognito's JWKS endpoint: it can answer,
fail (500), or hold a request until the test releases it.  Time is a fake
clock the tests advance (cruddur.auth reads ``time.monotonic()`` through its
module), so no test sleeps or measures speed; the only time bound is a
generous one proving a request did not wait behind a blocked fetch.
"""

import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import CLIENT_ID, POOL_ID

import cruddur.auth as auth
from cruddur.auth import InvalidToken, KeysUnavailable, TokenVerifier
from cruddur.config import Settings

GENEROUS = 20  # seconds: a bound on a hang, never a speed assertion


class ControlledJwks:
    """Serves the session key set (tokens from the ``jwks`` fixture verify)."""

    def __init__(self, document: bytes):
        self.document = document
        self.mode = "ok"  # ok | fail | block
        self.hits = 0
        self.arrived = threading.Event()  # a blocked request has arrived
        self.release = threading.Event()  # lets blocked requests answer
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                if server.mode == "block":
                    server.arrived.set()
                    server.release.wait(60)
                if server.mode == "fail":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.document)))
                self.end_headers()
                self.wfile.write(server.document)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{POOL_ID}/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def keyserver(jwks):
    server = ControlledJwks(jwks.document)
    yield server
    server.close()


@pytest.fixture
def clock(monkeypatch):
    """A fake monotonic clock for cruddur.auth only."""
    now = [1000.0]
    fake = types.SimpleNamespace(monotonic=lambda: now[0])
    monkeypatch.setattr(auth, "time", fake)

    class Clock:
        def advance(self, seconds):
            now[0] += seconds

    return Clock()


def verifier_for(url, **kwargs):
    settings = Settings(cognito_user_pool_id=POOL_ID, cognito_client_id=CLIENT_ID, cognito_jwks_url=url)
    # A long fetch timeout: a blocked fetch stays blocked until the test releases it.
    kwargs.setdefault("fetch_timeout", 60)
    return TokenVerifier(settings, **kwargs)


def in_thread(fn, *args):
    result = {}

    def run():
        try:
            result["value"] = fn(*args)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def test_cached_key_answers_while_a_refetch_is_blocked(jwks, keyserver, clock):
    verifier = verifier_for(keyserver.url, refetch_interval=30)
    verifier.verify(jwks.token("bayko"))
    assert keyserver.hits == 1

    # An unknown kid starts a refetch, which Cognito holds.
    clock.advance(31)
    keyserver.mode = "block"
    fetcher, fetched = in_thread(verifier.verify, jwks.token(kid="rotated-key"))
    assert keyserver.arrived.wait(GENEROUS), "the refetch never reached the server"

    # A token with the cached kid must not wait behind that fetch.
    cached, answer = in_thread(verifier.verify, jwks.token("andrewbrown"))
    cached.join(GENEROUS)
    still_blocked = not keyserver.release.is_set()
    assert not cached.is_alive(), "a cached-key request waited behind the blocked key fetch"
    assert still_blocked
    assert answer.get("value", {}).get("username") == "andrewbrown", answer

    keyserver.release.set()
    fetcher.join(GENEROUS)
    assert not fetcher.is_alive()
    assert isinstance(fetched.get("error"), InvalidToken)  # the kid really is unknown
    assert keyserver.hits == 2


def test_one_fetch_at_a_time(jwks, keyserver, clock):
    """Requests that need the keys while a fetch is in flight wait for its
    result instead of starting fetches of their own."""
    verifier = verifier_for(keyserver.url)
    keyserver.mode = "block"
    first, first_result = in_thread(verifier.verify, jwks.token("bayko"))
    assert keyserver.arrived.wait(GENEROUS)
    others = [in_thread(verifier.verify, jwks.token("andrewbrown")) for _ in range(5)]
    keyserver.mode = "ok"
    keyserver.release.set()
    for t, _ in [(first, first_result), *others]:
        t.join(GENEROUS)
        assert not t.is_alive()
    assert first_result["value"]["username"] == "bayko"
    assert all(r["value"]["username"] == "andrewbrown" for _, r in others), others
    assert keyserver.hits == 1


def test_outage_with_unknown_kids_fetches_once_per_backoff_window(jwks, keyserver, clock):
    verifier = verifier_for(keyserver.url, refetch_interval=30)
    verifier.verify(jwks.token("bayko"))
    assert keyserver.hits == 1

    keyserver.mode = "fail"
    clock.advance(31)  # past refetch_interval: an unknown kid may refetch
    for window in range(3):
        before = keyserver.hits
        for i in range(20):
            with pytest.raises((InvalidToken, KeysUnavailable)):
                verifier.verify(jwks.token(kid=f"made-up-{window}-{i}"))
            # Tokens with the cached key keep working through the outage.
            assert verifier.verify(jwks.token("andrewbrown"))["username"] == "andrewbrown"
        assert keyserver.hits - before == 1, f"window {window}: {keyserver.hits - before} fetches"
        clock.advance(31)  # past the longest backoff


def test_outage_without_keys_fetches_once_per_backoff_window(jwks, keyserver, clock):
    """Cold start during an outage: 503s, and one fetch per backoff window."""
    verifier = verifier_for(keyserver.url)
    keyserver.mode = "fail"
    for window in range(3):
        before = keyserver.hits
        for _ in range(20):
            with pytest.raises(KeysUnavailable):
                verifier.verify(jwks.token("bayko"))
        assert keyserver.hits - before == 1, f"window {window}: {keyserver.hits - before} fetches"
        clock.advance(31)
    # Cognito is back: the next attempt after the window signs in.
    keyserver.mode = "ok"
    assert verifier.verify(jwks.token("bayko"))["username"] == "bayko"


def test_unknown_kid_during_a_failed_refresh_is_503(jwks, keyserver, clock):
    """Whether an unknown kid is a rotated key or a forgery cannot be told
    while the key set is unreachable: 503 (try again), not 401 (signed out)."""
    verifier = verifier_for(keyserver.url, refetch_interval=30)
    verifier.verify(jwks.token("bayko"))
    keyserver.mode = "fail"
    clock.advance(31)
    with pytest.raises(KeysUnavailable):
        verifier.verify(jwks.token(kid="rotated-key"))
    with pytest.raises(KeysUnavailable):
        verifier.verify(jwks.token(kid="rotated-key"))


def test_stale_cache_keeps_working_when_the_refresh_fails(jwks, keyserver, clock):
    verifier = verifier_for(keyserver.url, cache_seconds=3600)
    verifier.verify(jwks.token("bayko"))
    keyserver.mode = "fail"
    clock.advance(3601)
    before = keyserver.hits
    for _ in range(10):
        assert verifier.verify(jwks.token("bayko"))["username"] == "bayko"
    assert keyserver.hits - before == 1
