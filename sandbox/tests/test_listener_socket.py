"""A listener's socket takes a burst of new connections as an ALB does."""

import socket
import subprocess

from conftest import wait_for
from http.server import BaseHTTPRequestHandler

from cruddur_sandbox.listener_socket import ListenerServer


def states(port: int) -> list[str]:
    """The kernel's view of the clients' sockets to `port`."""
    out = subprocess.run(["ss", "-tanH", f"( dport = :{port} )"], check=True, capture_output=True, text=True)
    return [line.split()[0] for line in out.stdout.splitlines()]


def test_a_burst_of_connections_is_queued_while_the_listener_is_busy():
    # The server is not accepting (as when its process is busy): only the
    # kernel's accept queue holds the clients. socketserver's default of 5
    # leaves the rest in SYN-SENT, waiting for TCP's retries (1 s, 3 s, ...).
    server = ListenerServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    clients = []
    try:
        for _ in range(64):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            clients.append(c)
        wait_for(lambda: states(port).count("ESTAB") == 64, 10, what="64 connections established")
        assert "SYN-SENT" not in states(port)
    finally:
        for c in clients:
            c.close()
        server.server_close()
