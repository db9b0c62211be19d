"""gunicorn settings for production (Dockerfile.prod: ``gunicorn --config gunicorn.conf.py cruddur.wsgi:app``).

Sized for an ECS Fargate task of 256 CPU units / 512 MiB: two worker processes
(one can restart while the other serves) with four threads each; the app is I/O
bound (PostgreSQL, DynamoDB), so threads carry the concurrency, and each worker
keeps a PostgreSQL pool as large as its thread count.  Override with
GUNICORN_WORKERS (or WEB_CONCURRENCY), GUNICORN_THREADS, PORT.
FORWARDED_ALLOW_IPS: who may set X-Forwarded-* (the load balancer's networks).
"""

import os


def _int(name, default):
    value = (os.environ.get(name) or "").strip()
    return int(value) if value else default


bind = f"0.0.0.0:{_int('PORT', 4567)}"
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 20
# Longer than the load balancer's idle timeout (60 s), so the ALB closes idle
# connections first and never races a closing worker (502s).
keepalive = 75
# Heartbeat files in memory, not on the container's overlay filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No runtime control socket (gunicornc): nothing in the task uses it, and the
# non-root user has no home directory to put it in.
control_socket_disable = True


def _forwarded_allow_ips(raw):
    """FORWARDED_ALLOW_IPS: the load balancer's addresses or networks (CIDR).

    Only peers in it may set X-Forwarded-Proto (the scheme the app sees) and the
    forwarder headers SCRIPT_NAME / PATH_INFO (which re-root the app's routes).
    In awsvpc every task in the VPC can reach this port directly, so "*" would
    let any of them spoof those: it is refused, as is anything that is not an
    address or network (gunicorn itself would die with a traceback)."""
    import ipaddress

    entries = [e.strip() for e in (raw or "").split(",") if e.strip()]
    if not entries:
        return "127.0.0.1"
    for entry in entries:
        if entry == "*":
            raise SystemExit(
                "FORWARDED_ALLOW_IPS: '*' would trust X-Forwarded-* from anyone; "
                "list the load balancer's addresses or networks (e.g. 10.0.0.0/16)"
            )
        try:
            ipaddress.ip_network(entry)  # strict, as gunicorn checks it
        except ValueError:
            raise SystemExit(
                f"FORWARDED_ALLOW_IPS: '{entry}' is not an IP address or network "
                "(a network has no host bits: 10.0.0.0/16)"
            ) from None
    return ",".join(entries)


forwarded_allow_ips = _forwarded_allow_ips(os.environ.get("FORWARDED_ALLOW_IPS"))
# The app writes its own JSON request log; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = "info"

# Everything (gunicorn's own lines and the app's) as JSON on stdout.  gunicorn
# merges this over its defaults key by key, so "root" and "handlers" are whole.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "cruddur.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # With a logconfig_dict gunicorn writes access lines whatever
        # accesslog says: silence them here (cruddur.request has them).
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}
