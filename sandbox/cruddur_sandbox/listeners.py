"""The load balancer's data plane: each HTTP and HTTPS listener of each load
balancer in moto's ELBv2 ledger is served on 127.0.0.1:<listener port> (an
HTTPS one with its ACM certificate: tls_termination.py). A request is
matched against the listener's rules (priority order, then the default
action), forwarded to a healthy target of the chosen target group (round
robin; none healthy: 503), with X-Forwarded-For/-Proto/-Port (Proto is the
listener's: https behind an HTTPS listener), or redirected; request bodies
pass through and responses stream back. A draining target gets no new
request."""

from __future__ import annotations

import fnmatch
import http.client
import logging
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from .listener_socket import ListenerServer
from .target_health import TargetHealth
from .tls_termination import CertificateUnusable, TLSServer, context_for

log = logging.getLogger("cruddur_sandbox.listeners")

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
UPSTREAM_TIMEOUT = 60.0  # the ALB's default idle timeout

PAGE_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)
PAGE_502 = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
PAGE_504 = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"
)


def _values(condition: dict[str, Any], config_key: str) -> list[str]:
    conf = condition.get(config_key) or {}
    return list(conf.get("Values") or condition.get("Values") or [])


def rule_matches(conditions: list[dict[str, Any]], method: str, path: str, query: str, headers) -> bool:
    for cond in conditions or []:
        field = cond.get("Field")
        if field == "path-pattern":
            if not any(fnmatch.fnmatchcase(path, v) for v in _values(cond, "PathPatternConfig")):
                return False
        elif field == "host-header":
            host = (headers.get("Host") or "").split(":")[0].lower()
            if not any(fnmatch.fnmatchcase(host, v.lower()) for v in _values(cond, "HostHeaderConfig")):
                return False
        elif field == "http-request-method":
            if method not in _values(cond, "HttpRequestMethodConfig"):
                return False
        elif field == "http-header":
            conf = cond.get("HttpHeaderConfig") or {}
            value = headers.get(conf.get("HttpHeaderName", "")) or ""
            if not any(fnmatch.fnmatch(value.lower(), v.lower()) for v in conf.get("Values") or []):
                return False
        elif field == "query-string":
            pairs = dict(p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p)
            conf = cond.get("QueryStringConfig") or {}
            if not any(
                (kv.get("Key") is None or kv.get("Key") in pairs)
                and fnmatch.fnmatch(pairs.get(kv.get("Key"), "") if kv.get("Key") else query, kv.get("Value", "*"))
                for kv in conf.get("Values") or []
            ):
                return False
        elif field == "source-ip":
            continue  # every client of the sandbox is loopback
        else:
            return False
    return True


def _action_dict(action: Any) -> dict[str, Any]:
    return getattr(action, "data", None) or dict(action)


def redirect_location(conf: dict[str, Any], scheme: str, port: int, host_header: str, path: str, query: str) -> str:
    """An ALB's redirect target: each part of RedirectConfig, or the request's
    own (#{protocol}, #{host}, #{port}, #{path}, #{query}); a scheme's default
    port is left out, as browsers write it."""
    host = conf.get("Host", "#{host}").replace("#{host}", host_header.split(":")[0])
    to_port = conf.get("Port", "#{port}").replace("#{port}", str(port))
    proto = conf.get("Protocol", "#{protocol}").replace("#{protocol}", scheme).lower()
    rpath = conf.get("Path", "/#{path}").replace("#{path}", path.lstrip("/"))
    rquery = conf.get("Query", "#{query}").replace("#{query}", query)
    netloc = host if (proto, to_port) in (("http", "80"), ("https", "443")) else f"{host}:{to_port}"
    return f"{proto}://{netloc}{rpath}" + (f"?{rquery}" if rquery else "")


class Listener:
    def __init__(self, proxies: "Proxies", arn: str, port: int, context=None):
        self.proxies = proxies
        self.arn = arn
        self.port = port
        self.scheme = "https" if context is not None else "http"
        self.settings: tuple = ()  # (port, protocol, certificate, policy) as served
        if context is not None:
            self.server = TLSServer(("127.0.0.1", port), ListenerHandler, context)
        else:
            self.server = ListenerServer(("127.0.0.1", port), ListenerHandler)
        self.server.daemon_threads = True
        self.server.listener = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=f"listener-{port}")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def listener(self):
        for lb in list(self.proxies.elb.backend().load_balancers.values()):
            listener = lb.listeners.get(self.arn)
            if listener is not None:
                return listener
        return None

    def route(self, method: str, path: str, query: str, headers) -> dict[str, Any] | None:
        listener = self.listener()
        if listener is None:
            return None
        rules = list(listener.rules.values())
        ordered = sorted((r for r in rules if not r.is_default), key=lambda r: int(r.priority))
        ordered += [r for r in rules if r.is_default]
        for rule in ordered:
            if rule.is_default or rule_matches(rule.conditions, method, path, query, headers):
                actions = sorted((_action_dict(a) for a in rule.actions), key=lambda a: int(a.get("Order") or 0))
                for a in actions:
                    if a.get("Type") in ("forward", "fixed-response", "redirect"):
                        return a
                return None
        return None


def _target_group(action: dict[str, Any]) -> str | None:
    if action.get("TargetGroupArn"):
        return action["TargetGroupArn"]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if not groups:
        return None
    weights = [int(g.get("Weight", 1)) for g in groups]
    if sum(weights) <= 0:
        return groups[0]["TargetGroupArn"]
    return random.choices(groups, weights=weights)[0]["TargetGroupArn"]


class ListenerHandler(BaseHTTPRequestHandler):
    """One client connection to a listener; the listener is the server's."""

    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"
    sys_version = ""

    @property
    def listener(self) -> "Listener":
        return self.server.listener  # type: ignore[attr-defined]

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        action = self.listener.route(self.command, path, query, self.headers)
        body, chunked = self._body()
        kind = (action or {}).get("Type")
        if kind == "fixed-response":
            self._fixed_response(action)
        elif kind == "redirect":
            self._redirect(action, path, query)
        elif kind == "forward":
            self._forward(action, body, chunked)
        else:
            self._simple(503, PAGE_503)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _simple(self, status: int, body: bytes, content_type: str = "text/html", extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        """The request body: (bytes or chunk iterator, is_chunked)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return self._chunks(), True
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length else None), False

    def _chunks(self):
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = self.rfile.read(size)
            self.rfile.readline(65537)
            yield data

    def _fixed_response(self, action: dict[str, Any]) -> None:
        conf = action.get("FixedResponseConfig") or {}
        self._simple(int(conf.get("StatusCode", 200)), (conf.get("MessageBody") or "").encode(),
                     conf.get("ContentType") or "text/plain")

    def _redirect(self, action: dict[str, Any], path: str, query: str) -> None:
        conf = action.get("RedirectConfig") or {}
        location = redirect_location(conf, self.listener.scheme, self.listener.port,
                                     self.headers.get("Host") or "", path, query)
        code = 301 if conf.get("StatusCode") == "HTTP_301" else 302
        self._simple(code, b"", extra={"Location": location})

    def _upstream_headers(self) -> dict[str, str]:
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in HOP_BY_HOP or k.lower() in ("content-length", "x-forwarded-port", "x-forwarded-proto"):
                continue
            headers[k] = v
        client = self.client_address[0]
        xff = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{xff}, {client}" if xff else client
        headers["X-Forwarded-Proto"] = self.listener.scheme
        headers["X-Forwarded-Port"] = str(self.listener.port)
        headers["Connection"] = "close"
        return headers

    def _forward(self, action: dict[str, Any], body, chunked: bool) -> None:
        tg = _target_group(action)
        target = self.listener.proxies.elb.pick(tg) if tg else None
        if target is None:
            self._simple(503, PAGE_503)
            return
        headers = self._upstream_headers()
        conn = http.client.HTTPConnection(target.id, target.port, timeout=UPSTREAM_TIMEOUT)
        try:
            if chunked:
                conn.request(self.command, self.path, body=body, headers=headers, encode_chunked=True)
            else:
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
        except (socket.timeout, TimeoutError):
            conn.close()
            self._simple(504, PAGE_504)
            return
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            log.info("listener %d: target %s:%s failed: %s", self.listener.port, target.id, target.port, e)
            self._simple(502, PAGE_502)
            return
        try:
            self._relay(resp)
        finally:
            conn.close()

    def _relay(self, resp: http.client.HTTPResponse) -> None:
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        rechunk = False
        if no_body or length is not None:
            if length is not None:
                self.send_header("Content-Length", length)
        elif self.request_version == "HTTP/1.1":
            self.send_header("Transfer-Encoding", "chunked")
            rechunk = True
        else:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body:
            self._stream(resp, rechunk)

    def _stream(self, resp: http.client.HTTPResponse, rechunk: bool) -> None:
        while True:
            data = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not data:
                break
            if rechunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            self.wfile.flush()
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Proxies:
    """Keeps one Listener per HTTP or HTTPS listener in the ledger, on its
    port; a listener whose port, protocol, certificate or policy changes is
    served anew."""

    def __init__(self, elb: TargetHealth):
        self.elb = elb
        self.listeners: dict[str, Listener] = {}
        # a listener not served, with the settings it was refused with (tried again when they change)
        self.refused: dict[str, tuple] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="lb-proxies")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for l in list(self.listeners.values()):
            l.stop()
        self.listeners.clear()

    def _run(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                self._sync()
            except Exception:
                log.exception("listener sync")

    def _sync(self) -> None:
        wanted: dict[str, tuple[tuple, str]] = {}
        for lb in list(self.elb.backend().load_balancers.values()):
            for arn, listener in list(lb.listeners.items()):
                protocol = (listener.protocol or "HTTP").upper()
                settings = (int(listener.port), protocol, listener.certificate, listener.ssl_policy)
                wanted[arn] = (settings, lb.name)
        for arn, l in list(self.listeners.items()):
            if arn in wanted and wanted[arn][0] != l.settings and wanted[arn][0][:2] == l.settings[:2] \
                    and l.scheme == "https":
                self._new_certificate(l, wanted[arn][0])
            if arn not in wanted or wanted[arn][0] != l.settings:
                l.stop()
                del self.listeners[arn]
                log.info("listener on 127.0.0.1:%d closed", l.port)
        for arn in list(self.refused):
            if arn not in wanted or wanted[arn][0] != self.refused[arn]:
                del self.refused[arn]
        for arn, (settings, lb_name) in wanted.items():
            if arn not in self.listeners and arn not in self.refused:
                self._serve(arn, settings, lb_name)

    @staticmethod
    def _new_certificate(l: Listener, settings: tuple) -> None:
        if l.server.use(settings[2], settings[3]):
            l.settings = settings

    def _serve(self, arn: str, settings: tuple, lb_name: str) -> None:
        port, protocol, certificate, ssl_policy = settings
        context = None
        try:
            if protocol == "HTTPS":
                context = context_for(certificate, ssl_policy)
            elif protocol != "HTTP":
                raise CertificateUnusable(f"{protocol} listeners are not served (an ALB's are HTTP and HTTPS)")
            l = Listener(self, arn, port, context)
        except CertificateUnusable as e:
            self.refused[arn] = settings
            log.warning("load balancer %s: %s listener on port %d is not served: %s", lb_name, protocol, port, e)
            return
        except OSError as e:
            self.refused[arn] = settings
            log.error("load balancer %s: listener port %d cannot be bound on 127.0.0.1 (%s); it is not served",
                      lb_name, port, e)
            return
        l.settings = settings
        l.start()
        self.listeners[arn] = l
        log.info("load balancer %s: serving listener %s://127.0.0.1:%d/", lb_name, l.scheme, port)
