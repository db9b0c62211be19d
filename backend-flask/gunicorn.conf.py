"""gunicorn settings for production (Dockerfile.prod: ``gunicorn --config gunicorn.conf.py cruddur.wsgi:app``).

Sized for an ECS Fargate task of 256 CPU units / 512 MiB: two worker processes
(one can restart while the other serves) with four threads each; the app is I/O
bound (PostgreSQL, DynamoDB), so threads carry the concurrency, and each worker
keeps a PostgreSQL pool as large as its thread count.  Override with
GUNICORN_WORKERS (or WEB_CONCURRENCY), GUNICORN_THREADS, PORT.
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
# Behind the ALB: trust X-Forwarded-* from it.
forwarded_allow_ips = "*"
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
