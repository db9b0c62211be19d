"""The account's database: PostgreSQL in a container on the sandbox network,
reachable by tasks as `postgres:5432`, with a random password that goes only
into the SSM SecureString the backend's CONNECTION_URL secret reads.

The container runs an image made once from the base image with the database
already made (initdb and `cruddur`): initdb was 1.1 s of CPU and most of the
3 s a sandbox's PostgreSQL took to listen, in each of some 40 sandboxes a test
run starts (2026-12-03). The password that image was made with is random and
kept nowhere; each sandbox sets its own once the server listens."""

from __future__ import annotations

import logging
import secrets
import socket
import time
from dataclasses import dataclass

from docker.errors import ImageNotFound

from .helper_images import build, tag_for
from .labels import LABEL_ROLE, LABEL_SANDBOX
from .network import Network

log = logging.getLogger("cruddur_sandbox.postgres")

ALIAS = "postgres"
USER = "postgres"
DATABASE = "cruddur"
PORT = 5432
CONNECTION_URL_PARAMETER = "/cruddur/backend-flask/CONNECTION_URL"
POSTGRES_IMAGE = "cruddur-base/postgres:15-bookworm"
# Outside the base image's VOLUME (/var/lib/postgresql/data), whose build-time
# writes docker discards: here the database is part of the image.
INITIALIZED_PGDATA = "/var/lib/postgresql/sandbox"
# The entrypoint makes the database on an empty PGDATA, then execs `postgres
# --version`, which exits: a build step that leaves only the data behind.
INITIALIZE = (
    f"FROM {{image}}\nENV PGDATA={INITIALIZED_PGDATA}\n"
    f"RUN POSTGRES_USER={USER} POSTGRES_DB={DATABASE} "
    "POSTGRES_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n') "
    "sh /usr/local/bin/docker-entrypoint.sh postgres --version\n"
)
# Run as postgres over the local socket (trust): the password reaches psql in
# the environment, never on a command line.
SET_PASSWORD = (
    "printf '%s\\n' '\\getenv password SANDBOX_DB_PASSWORD' \"ALTER USER postgres PASSWORD :'password';\" "
    "| psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --dbname postgres"
)


@dataclass
class Postgres:
    container: str
    alias: str
    address: str
    url: str  # holds the password: never printed or written anywhere but SSM

    def public(self) -> dict:
        return {
            "container": self.container,
            "host": self.alias,
            "port": PORT,
            "user": USER,
            "database": DATABASE,
            "address": self.address,
            "ssm_parameter": CONNECTION_URL_PARAMETER,
        }


def start(dc, network: Network, sandbox: str, image: str = POSTGRES_IMAGE, timeout: float = 120.0) -> Postgres:
    try:
        dc.images.get(image)
    except ImageNotFound:
        raise SystemExit(
            f"the PostgreSQL image {image} is missing: make the base images first "
            "(`cargo xtask sandbox base-images`), or run without the database (--no-postgres)"
        ) from None
    initialized = initialized_image(dc, image)
    password = secrets.token_urlsafe(24)
    name = f"{sandbox}-postgres"
    api = dc.api
    container = api.create_container(
        image=initialized,
        name=name,
        command=["postgres", "-c", "fsync=off", "-c", "full_page_writes=off"],
        labels={LABEL_SANDBOX: sandbox, LABEL_ROLE: "postgres"},
        host_config=api.create_host_config(network_mode=network.name),
        networking_config=api.create_networking_config(
            {network.name: api.create_endpoint_config(aliases=[ALIAS])}
        ),
    )
    api.start(container["Id"])
    address = api.inspect_container(container["Id"])["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    deadline = time.monotonic() + timeout
    while True:
        state = api.inspect_container(container["Id"])["State"]
        if state.get("Status") == "exited":
            raise SystemExit(f"PostgreSQL exited while starting (code {state.get('ExitCode')}): docker logs {name}")
        try:
            with socket.create_connection((address, PORT), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"PostgreSQL did not listen on {address}:{PORT} within {timeout:.0f}s")
            time.sleep(0.3)
    set_password(api, container["Id"], password)
    log.info("PostgreSQL up as %s (%s:%d on %s)", ALIAS, address, PORT, network.name)
    return Postgres(
        container=name,
        alias=ALIAS,
        address=address,
        url=f"postgresql://{USER}:{password}@{ALIAS}:{PORT}/{DATABASE}",
    )


def initialized_image(dc, image: str) -> str:
    """`image` with the database made, built once per base image."""
    dockerfile = INITIALIZE.format(image=image).encode()
    tag = tag_for("postgres-initialized", dc.images.get(image).id.encode(), dockerfile)
    # No network: the step needs none, and a sandbox's daemon may have no bridge.
    build(dc, tag, {"Dockerfile": (dockerfile, 0o644)}, network_mode="none")
    return tag


def set_password(api, container: str, password: str) -> None:
    run = api.exec_create(container, ["sh", "-c", SET_PASSWORD], user="postgres",
                          environment={"SANDBOX_DB_PASSWORD": password})
    output = api.exec_start(run["Id"])
    code = api.exec_inspect(run["Id"])["ExitCode"]
    if code != 0:
        text = output.decode(errors="replace").strip()[-300:]
        raise SystemExit(f"PostgreSQL did not take the sandbox's password (psql exit {code}): {text}")
