"""The account's database: PostgreSQL in a container on the sandbox network,
reachable by tasks as `postgres:5432`, with a random password that goes only
into the SSM SecureString the backend's CONNECTION_URL secret reads."""

from __future__ import annotations

import logging
import secrets
import socket
import time
from dataclasses import dataclass

from docker.errors import ImageNotFound

from .labels import LABEL_ROLE, LABEL_SANDBOX
from .network import Network

log = logging.getLogger("cruddur_sandbox.postgres")

ALIAS = "postgres"
USER = "postgres"
DATABASE = "cruddur"
PORT = 5432
CONNECTION_URL_PARAMETER = "/cruddur/backend-flask/CONNECTION_URL"
POSTGRES_IMAGE = "cruddur-base/postgres:15-bookworm"


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
    password = secrets.token_urlsafe(24)
    name = f"{sandbox}-postgres"
    api = dc.api
    container = api.create_container(
        image=image,
        name=name,
        environment=[f"POSTGRES_USER={USER}", f"POSTGRES_PASSWORD={password}", f"POSTGRES_DB={DATABASE}"],
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
    # the entrypoint's init server listens on the socket only; TCP answers once the real one runs
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
    log.info("PostgreSQL up as %s (%s:%d on %s)", ALIAS, address, PORT, network.name)
    return Postgres(
        container=name,
        alias=ALIAS,
        address=address,
        url=f"postgresql://{USER}:{password}@{ALIAS}:{PORT}/{DATABASE}",
    )
