"""Docker Engine API helpers: the sandbox network, its helper images, image
references, and removing exactly one sandbox's containers and network."""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from .util import LABEL_ROLE, LABEL_SANDBOX

log = logging.getLogger("cruddur_sandbox.docker")

IMAGES_DIR = Path(__file__).parent / "images"
BUSYBOX = Path("/bin/busybox")
PYTHON_BASE = "cruddur-base/python:3.11-bookworm"
POSTGRES_IMAGE = "cruddur-base/postgres:15-bookworm"

# The pause container holds a task's network namespace (awsvpc: the task's
# containers share 127.0.0.1 and one address). It exits on SIGTERM.
PAUSE_CMD = ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"]


def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@dataclass
class Network:
    name: str
    id: str
    subnet: str
    gateway: str


def ensure_network(dc: docker.DockerClient, name: str, sandbox: str) -> Network:
    """The sandbox's own network, labelled with its id. An existing network of
    that name that is not this sandbox's is refused, never reused or removed."""
    try:
        net = dc.networks.get(name)
        labels = net.attrs.get("Labels") or {}
        if labels.get(LABEL_SANDBOX) != sandbox:
            raise SystemExit(
                f"docker network {name!r} exists and is not this sandbox's (label {LABEL_SANDBOX}={sandbox}): "
                "pick another --network, or remove it yourself if it is a leftover"
            )
    except NotFound:
        net = dc.networks.create(name, driver="bridge", labels={LABEL_SANDBOX: sandbox}, check_duplicate=True)
        net.reload()
    config = (net.attrs.get("IPAM") or {}).get("Config") or [{}]
    subnet, gateway = config[0].get("Subnet", ""), config[0].get("Gateway", "")
    if not gateway:
        raise SystemExit(f"docker network {name!r} has no gateway address (IPAM: {config})")
    return Network(name=name, id=net.id, subnet=subnet, gateway=gateway)


def remove_sandbox(dc: docker.DockerClient, sandbox: str, grace: float = 0.0) -> tuple[int, int]:
    """Removes every container and network labelled as this sandbox's; nothing
    else. With `grace`, containers get SIGTERM and that long before SIGKILL.
    Returns (containers, networks) removed."""
    containers = dc.containers.list(all=True, filters={"label": f"{LABEL_SANDBOX}={sandbox}"})

    def remove(c) -> None:
        try:
            if grace > 0 and c.status == "running":
                c.stop(timeout=int(grace))
            c.remove(force=True, v=True)
        except NotFound:
            pass
        except APIError as e:
            if "already in progress" not in str(e):
                log.warning("removing container %s: %s", c.name, e)

    # the pause containers last: the others share their network namespace
    apps = [c for c in containers if c.labels.get(LABEL_ROLE) != "pause"]
    pauses = [c for c in containers if c.labels.get(LABEL_ROLE) == "pause"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, apps))
        list(pool.map(remove, pauses))
    networks = dc.networks.list(filters={"label": f"{LABEL_SANDBOX}={sandbox}"})
    removed_networks = 0
    for net in networks:
        for attempt in range(20):
            try:
                net.remove()
                removed_networks += 1
                break
            except NotFound:
                break
            except APIError as e:
                # endpoints of containers being removed can linger a moment
                if attempt == 19:
                    log.warning("removing network %s: %s", net.name, e)
                time.sleep(0.25)
    return len(containers), removed_networks


def remove_role(dc: docker.DockerClient, sandbox: str, role: str) -> int:
    """Removes this sandbox's containers of one role (e.g. its database)."""
    n = 0
    for c in dc.containers.list(all=True, filters={"label": [f"{LABEL_SANDBOX}={sandbox}", f"{LABEL_ROLE}={role}"]}):
        try:
            c.remove(force=True, v=True)
            n += 1
        except (NotFound, APIError):
            pass
    return n


# ---------------------------------------------------------------- image refs


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


# ------------------------------------------------------------- helper images


def _context(files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _build(dc: docker.DockerClient, tag: str, files: dict[str, tuple[bytes, int]]) -> str:
    try:
        return dc.images.get(tag).id
    except docker.errors.ImageNotFound:
        pass
    image, _ = dc.images.build(fileobj=_context(files), custom_context=True, tag=tag, rm=True, forcerm=True)
    log.info("built helper image %s", tag)
    return image.id


def _tag_for(name: str, *parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return f"cruddur-sandbox/{name}:{h.hexdigest()[:12]}"


def ensure_pause_image(dc: docker.DockerClient) -> str:
    if not BUSYBOX.exists():
        raise SystemExit(
            "the sandbox's pause container needs a static busybox at /bin/busybox: "
            "`apt-get install busybox-static`"
        )
    busybox = BUSYBOX.read_bytes()
    dockerfile = b"FROM scratch\nCOPY busybox /bin/busybox\n"
    tag = _tag_for("pause", busybox, dockerfile, repr(PAUSE_CMD).encode())
    _build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "busybox": (busybox, 0o755)})
    return tag


def ensure_xray_standin(dc: docker.DockerClient) -> str:
    """A tiny static build of xray_standin.c when a C compiler is there; else
    the Python one on the sandbox's Python base image."""
    source = (IMAGES_DIR / "xray_standin.c").read_bytes()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        dockerfile = b'FROM scratch\nCOPY xray /xray\nEXPOSE 2000/udp 2000/tcp\nENTRYPOINT ["/xray"]\n'
        tag = _tag_for("xray-daemon-standin", source, dockerfile)
        try:
            return dc.images.get(tag).tags[0]
        except docker.errors.ImageNotFound:
            pass
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "xray"
            src = Path(tmp) / "xray.c"
            src.write_bytes(source)
            r = subprocess.run([cc, "-static", "-Os", "-s", "-o", str(out), str(src)], capture_output=True, text=True)
            if r.returncode == 0:
                _build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "xray": (out.read_bytes(), 0o755)})
                return tag
            log.warning("static build of the X-Ray stand-in failed (%s); using the Python one", r.stderr.strip()[:300])
    script = (IMAGES_DIR / "xray_standin.py").read_bytes()
    dockerfile = (
        f"FROM {PYTHON_BASE}\nCOPY xray_standin.py /xray_standin.py\nEXPOSE 2000/udp 2000/tcp\n"
        'ENTRYPOINT ["python3", "-u", "/xray_standin.py"]\n'
    ).encode()
    tag = _tag_for("xray-daemon-standin-py", script, dockerfile)
    _build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "xray_standin.py": (script, 0o644)})
    return tag
