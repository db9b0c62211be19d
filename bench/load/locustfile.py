"""The bench's load (`cargo xtask bench --only load`): signed-in clients that read
the home feed and post cruds through the sandbox's load balancer, as fast as it
answers (no think time), while the bench deploys the backend.

Run by the bench with locust's own command line (`xtask/src/bench/locust.rs`
builds it); what it cannot say on that line comes from the environment:
CRUDDUR_LOAD_TOKEN (a Cognito access token of the bench's own user: in the
environment, never on a command line), CRUDDUR_LOAD_POSTERS (how many of the
users post), CRUDDUR_LOAD_MAX_REQUESTS (the run stops after that many) and
CRUDDUR_LOAD_ERRORS_FILE (where the failures are written, by kind, at the end).

A request counts as answered only with the status the route gives on success
(200, 201): a redirect, a 502 from the load balancer or a 401 is a failure.
"""

import ipaddress
import json
import os
import sys
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, constant, events, task

TOKEN = os.environ.get("CRUDDUR_LOAD_TOKEN", "")
POSTERS = int(os.environ.get("CRUDDUR_LOAD_POSTERS", "0"))
MAX_REQUESTS = int(os.environ.get("CRUDDUR_LOAD_MAX_REQUESTS", "0"))
ERRORS_FILE = os.environ.get("CRUDDUR_LOAD_ERRORS_FILE", "")


def loopback(url):
    try:
        return ipaddress.ip_address(urlsplit(url or "").hostname or "").is_loopback
    except ValueError:
        return False


run = {"environment": None, "sent": 0}


@events.init.add_listener
def on_init(environment, **_):
    # Load goes to this machine's own load balancer, nowhere else.
    if not loopback(environment.host):
        sys.exit(f"locustfile: --host must be a loopback address (127.0.0.0/8, [::1]), not {environment.host!r}")
    if not TOKEN:
        sys.exit("locustfile: CRUDDUR_LOAD_TOKEN is not set")
    run["environment"] = environment
    gevent.spawn(stop_with_parent, environment, os.getppid())


def stop_with_parent(environment, parent):
    # The bench starts the load in a process group of its own (a Ctrl-C in its
    # terminal does not reach it): if the bench dies, the load stops too.
    while os.getppid() == parent:
        gevent.sleep(1)
    environment.runner.quit()


@events.request.add_listener
def bounded(**_):
    run["sent"] += 1
    if MAX_REQUESTS and run["sent"] == MAX_REQUESTS:
        # Stopping from a request's own greenlet would kill it half-way.
        gevent.spawn(run["environment"].runner.quit)


@events.quit.add_listener
def write_errors(**_):
    if ERRORS_FILE and run["environment"] is not None:
        with open(ERRORS_FILE, "w") as f:
            json.dump(run["environment"].stats.serialize_errors(), f, indent=1)


class Client(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    max_redirects = 0  # a redirect elsewhere is never followed: it fails
    insecure = True  # an HTTPS listener's certificate is the sandbox's own CA's (loopback only)

    def expect(self, response, status):
        if response.status_code == status:
            response.success()
        else:
            response.failure(f"HTTP {response.status_code}")


class Reader(Client):
    """Reads the home feed, anonymous, as most visitors do."""

    @task
    def home(self):
        with self.client.get("/api/activities/home", name="GET /api/activities/home", catch_response=True) as r:
            self.expect(r, 200)


class Poster(Client):
    """Posts a crud as the bench's signed-in user."""

    fixed_count = POSTERS

    @task
    def post(self):
        with self.client.post(
            "/api/activities",
            name="POST /api/activities",
            json={"message": "a crud from the bench's load", "ttl": "1-hour"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            catch_response=True,
        ) as r:
            self.expect(r, 201)
