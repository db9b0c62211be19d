"""Pulling a task's images as the ECS agent does: from the sandbox registry
(ECR's stand-in) with ECR's credentials, or as the local stand-in of an image
from a public registry; anything else cannot be pulled."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from docker.errors import APIError, ImageNotFound

from .account import ACCOUNT_ID, REGION, client
from .task_failure import TaskFailure


@dataclass
class ImageRef:
    host: str | None  # registry host[:port], None for Docker Hub short names
    path: str  # repository path without host
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}" if self.host else self.path

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def parse_image(ref: str) -> ImageRef:
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    host = None
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, ref = first, rest
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(host=host, path=ref, tag=tag, digest=digest)


class ImagePuller:
    def __init__(self, docker, registry: str, standins: dict[str, str], endpoint: str):
        self.docker = docker
        self.registry = registry
        self.standins = standins  # repository -> local image
        self.endpoint = endpoint
        self._auth: dict[str, str] | None = None
        self._auth_at = 0.0

    def registry_hosts(self) -> set[str]:
        """The names the sandbox registry goes by: ECR's stand-in."""
        port = self.registry.rsplit(":", 1)[-1]
        return {
            self.registry,
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com",
        }

    def is_ecr(self, image: str) -> bool:
        """From a private ECR registry (any account's, or the sandbox registry
        standing in for this one's): pulling it takes the execution role."""
        host = parse_image(image).host or ""
        return host in self.registry_hosts() or (
            ".dkr.ecr." in host and host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
        )

    def registry_auth(self) -> dict[str, str]:
        """ECR GetAuthorizationToken, as the agent does before pulling."""
        if self._auth is None or time.monotonic() - self._auth_at > 3600:
            token = client("ecr", self.endpoint).get_authorization_token()["authorizationData"][0]["authorizationToken"]
            user, password = base64.b64decode(token).decode().split(":", 1)
            self._auth = {"username": user, "password": password}
            self._auth_at = time.monotonic()
        return self._auth

    def pull(self, image: str) -> tuple[str, str]:
        """Pulls `image` the way the task's execution role would, returns
        (what to run: repository@digest, the digest pulled)."""
        ref = parse_image(image)
        if ref.host in self.registry_hosts():
            return self._pull_from_registry(image, ref)
        standin = self.standins.get(ref.repository)
        if standin:
            try:
                image_id = self.docker.api.inspect_image(standin)["Id"]
            except ImageNotFound:
                raise TaskFailure(f"CannotPullContainerError: the stand-in {standin} for {image} is missing") from None
            return standin, image_id
        raise TaskFailure(
            f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
            f"{image}: the sandbox reaches no registry but its own ({self.registry}) and has no stand-in for "
            f"{ref.repository}"
        )

    def _pull_from_registry(self, image: str, ref: ImageRef) -> tuple[str, str]:
        repo = f"{self.registry}/{ref.path}"
        wanted = ref.digest or ref.tag
        digest = None
        try:
            for ev in self.docker.api.pull(repo, tag=wanted, stream=True, decode=True, auth_config=self.registry_auth()):
                if "error" in ev:
                    raise APIError(ev["error"])
                status = ev.get("status", "")
                if status.startswith("Digest: "):
                    digest = status.split(" ", 1)[1].strip()
        except APIError as e:
            why = getattr(e, "explanation", None) or str(e)
            raise TaskFailure(
                f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                f"failed to resolve ref {image}: {why}"
            ) from None
        if not digest:
            if ref.digest:
                digest = ref.digest
            else:
                info = self.docker.api.inspect_image(f"{repo}:{ref.tag}")
                for rd in info.get("RepoDigests") or []:
                    if rd.startswith(repo + "@"):
                        digest = rd.split("@", 1)[1]
        if not digest:
            raise TaskFailure(f"CannotPullContainerError: no digest for {image} after the pull")
        return f"{repo}@{digest}", digest
