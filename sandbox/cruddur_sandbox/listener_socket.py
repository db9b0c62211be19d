"""The listening socket of a load balancer's listener: a burst of clients'
connections queue in the kernel instead of being dropped (see ListenerServer)."""

from http.server import ThreadingHTTPServer


class ListenerServer(ThreadingHTTPServer):
    """A plain-HTTP listener's socket. An ALB takes every connection a burst of
    clients opens at once; socketserver's accept queue of 5 made the kernel
    drop the SYNs past the fifth while this (GIL-sharing) process was busy,
    and those clients waited for TCP's retries: 1 s, 3 s, 7 s, 15 s before
    their first request (seen as the load bench's p99 and max)."""

    request_queue_size = 1024
    daemon_threads = True
