"""TLS at the load balancer, as an ALB's HTTPS listener terminates it: the
certificate the listener names (its default certificate) is read from moto's
ACM, where it was imported with its private key, and served; the listener's
SslPolicy sets the lowest TLS version. The key goes from ACM's memory into
OpenSSL through an anonymous in-memory file (memfd): it is never written to
disk by the proxy, and never logged."""

from __future__ import annotations

import logging
import os
import ssl

from moto.acm.models import acm_backends

from .account import ACCOUNT_ID, REGION
from .listener_socket import ListenerServer

log = logging.getLogger("cruddur_sandbox.listeners")

HANDSHAKE_TIMEOUT = 10.0


class CertificateUnusable(Exception):
    """The listener's certificate is not in ACM, or OpenSSL will not serve it."""


def _minimum_version(ssl_policy: str | None) -> ssl.TLSVersion:
    # ELBSecurityPolicy-TLS13-1-3-…: TLS 1.3 only; every other policy of an
    # ALB we serve allows 1.2 (older ones 1.0/1.1, which OpenSSL here refuses anyway).
    if ssl_policy and "TLS13-1-3" in ssl_policy:
        return ssl.TLSVersion.TLSv1_3
    return ssl.TLSVersion.TLSv1_2


def context_for(certificate_arn: str | None, ssl_policy: str | None) -> ssl.SSLContext:
    """A server context with the ACM certificate `certificate_arn` (and its chain)."""
    if not certificate_arn:
        raise CertificateUnusable("the listener names no certificate")
    try:
        bundle = acm_backends[ACCOUNT_ID][REGION].get_certificate(certificate_arn)
    except Exception as e:  # moto's CertificateNotFound, or another account's ARN
        raise CertificateUnusable(f"certificate {certificate_arn} is not in ACM ({e})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _minimum_version(ssl_policy)
    # The certificate, then the key: what load_cert_chain reads from one file.
    pem = bundle.cert.rstrip(b"\n") + b"\n" + bundle.key.rstrip(b"\n") + b"\n"
    fd = os.memfd_create("cruddur-listener-certificate", os.MFD_CLOEXEC)
    try:
        os.write(fd, pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    except (ssl.SSLError, OSError) as e:
        raise CertificateUnusable(f"certificate {certificate_arn} cannot be served ({e.__class__.__name__})") from None
    finally:
        os.close(fd)
    return context


class TLSServer(ListenerServer):
    """A threading HTTP server whose connections are TLS: the handshake runs in
    the connection's own thread, so a slow or failing client holds up no one."""

    def __init__(self, address, handler, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def use(self, certificate_arn: str | None, ssl_policy: str | None) -> bool:
        """Another certificate or policy: new connections get it, open ones
        keep theirs (as on an ALB). False (and the old one kept) if unusable."""
        try:
            self.context = context_for(certificate_arn, ssl_policy)
        except CertificateUnusable as e:
            log.warning("listener on port %d keeps its certificate: %s", self.server_address[1], e)
            return False
        log.info("listener on 127.0.0.1:%d: now serving certificate %s", self.server_address[1], certificate_arn)
        return True

    def finish_request(self, request, client_address) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            # A client that does not trust the certificate, or speaks plain HTTP.
            log.debug("TLS handshake with %s failed: %s", client_address[0], e)
            return
        conn.settimeout(None)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass
