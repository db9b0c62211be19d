"""moto's server app in this process. The same app (and so the same backends,
the same account state) is served on several addresses: loopback for the
tool, and the sandbox network's gateway for containers."""

from __future__ import annotations

import logging
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

log = logging.getLogger("cruddur_sandbox.moto")

_APP = None


def app():
    global _APP
    if _APP is None:
        _APP = DomainDispatcherApplication(create_backend_app)
    return _APP


class MotoServer:
    """Like moto.server.ThreadedMotoServer, but binding in the caller's thread,
    so a port that cannot be bound is an error here and not a hang."""

    def __init__(self, host: str, port: int, gate=None):
        """`gate`: a WSGI middleware moto is served behind on this address."""
        try:
            self.server = make_server(host, port, gate(app()) if gate else app(), threaded=True)
        except SystemExit:  # werkzeug reports a taken port by exiting
            raise OSError(f"address {host}:{port} is in use") from None
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=f"moto-{host}")

    def start(self) -> "MotoServer":
        self.thread.start()
        log.info("moto serving on http://%s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
