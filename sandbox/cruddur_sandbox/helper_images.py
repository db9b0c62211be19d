"""The helper images the sandbox makes for itself, without any registry: the
pause container that holds a task's network namespace, and the stand-ins for
images from public registries the sandbox cannot reach."""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker

log = logging.getLogger("cruddur_sandbox.images")

IMAGES_DIR = Path(__file__).parent / "images"
BUSYBOX = Path("/bin/busybox")
PYTHON_BASE = "cruddur-base/python:3.11-bookworm"

# The pause container holds a task's network namespace (awsvpc: the task's
# containers share 127.0.0.1 and one address). It exits on SIGTERM.
PAUSE_CMD = ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"]

TASK_ENDPOINT_ADDRESS = "169.254.170.2"  # ECS's, where the SDKs look for a task's credentials


def pause_command(gateway: str | None) -> list[str]:
    """The pause container's command. With the task endpoint, it first routes
    ECS's link-local address through the sandbox network's `gateway`, where
    the sandbox serves it (task_endpoint.py), whatever other network (Service
    Connect's) the task is on."""
    if gateway is None:
        return PAUSE_CMD
    bb = "/bin/busybox"
    return [bb, "sh", "-c", f"{bb} ip route add {TASK_ENDPOINT_ADDRESS}/32 via {gateway} || exit 1; {PAUSE_CMD[-1]}"]


# Images that come from public registries the sandbox cannot reach, and the
# local stand-in each is run as. Matched on the repository, any tag or digest.
STANDIN_IMAGES = {
    "public.ecr.aws/xray/aws-xray-daemon": (
        "xray",
        "X-Ray daemon stand-in: listens on 2000/udp (logs each segment it receives) and 2000/tcp (sampling API, no rules)",
    ),
    "amazon/aws-xray-daemon": ("xray", "X-Ray daemon stand-in (Docker Hub name)"),
}

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


def build(dc: docker.DockerClient, tag: str, files: dict[str, tuple[bytes, int]], **options) -> str:
    try:
        return dc.images.get(tag).id
    except docker.errors.ImageNotFound:
        pass
    image, _ = dc.images.build(fileobj=_context(files), custom_context=True, tag=tag, rm=True, forcerm=True,
                               **options)
    log.info("built helper image %s", tag)
    return image.id


def tag_for(name: str, *parts: bytes) -> str:
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
    tag = tag_for("pause", busybox, dockerfile, repr(PAUSE_CMD).encode())
    build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "busybox": (busybox, 0o755)})
    return tag


def ensure_xray_standin(dc: docker.DockerClient) -> str:
    """A tiny static build of xray_standin.c when a C compiler is there; else
    the Python one on the sandbox's Python base image."""
    source = (IMAGES_DIR / "xray_standin.c").read_bytes()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        dockerfile = b'FROM scratch\nCOPY xray /xray\nEXPOSE 2000/udp 2000/tcp\nENTRYPOINT ["/xray"]\n'
        tag = tag_for("xray-daemon-standin", source, dockerfile)
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
                build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "xray": (out.read_bytes(), 0o755)})
                return tag
            log.warning("static build of the X-Ray stand-in failed (%s); using the Python one", r.stderr.strip()[:300])
    script = (IMAGES_DIR / "xray_standin.py").read_bytes()
    dockerfile = (
        f"FROM {PYTHON_BASE}\nCOPY xray_standin.py /xray_standin.py\nEXPOSE 2000/udp 2000/tcp\n"
        'ENTRYPOINT ["python3", "-u", "/xray_standin.py"]\n'
    ).encode()
    tag = tag_for("xray-daemon-standin-py", script, dockerfile)
    build(dc, tag, {"Dockerfile": (dockerfile, 0o644), "xray_standin.py": (script, 0o644)})
    return tag
