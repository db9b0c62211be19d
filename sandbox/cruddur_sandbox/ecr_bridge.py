"""Keeps moto's ECR and the sandbox registry one repository, as real ECR is:
the registry posts a notification for every push, and this bridge fetches the
manifest and calls ECR PutImage on moto with the registry's digest, so
DescribeImages reports exactly what `docker push` printed; and a tag put with
ECR's own PutImage (the tool moves `latest` that way after a successful
deploy) is written to the registry too, so docker pulls what ECR lists."""

import argparse
import hashlib
import hmac
import json
import logging
import os
import threading
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger("cruddur_sandbox.ecr_bridge")

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)


class Bridge:
    def __init__(self, registry, endpoint):
        self.registry = registry.rstrip("/")
        if "://" not in self.registry:
            self.registry = "http://" + self.registry
        self.ecr = boto3.client(
            "ecr",
            endpoint_url=endpoint,
            region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "sandbox"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
        )

    def auth_header(self):
        token = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return "Basic " + token  # the token is base64("AWS:password"), exactly a basic-auth value

    def fetch_manifest(self, repository, digest):
        req = urllib.request.Request(
            f"{self.registry}/v2/{repository}/manifests/{digest}",
            headers={"Accept": ", ".join(MANIFEST_TYPES), "Authorization": self.auth_header()},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read().decode(), resp.headers.get("Content-Type")

    def registry_digest(self, repository, tag):
        """The digest the registry has under `tag`, or None."""
        req = urllib.request.Request(
            f"{self.registry}/v2/{repository}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": ", ".join(MANIFEST_TYPES), "Authorization": self.auth_header()},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def sync_tag(self, repository, tag, manifest, media_type, digest):
        """Puts `manifest` under `tag` in the registry unless it is there already
        (a push the registry reported, which ECR learnt through on_push)."""
        digest = digest or "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        if self.registry_digest(repository, tag) == digest:
            return
        req = urllib.request.Request(
            f"{self.registry}/v2/{repository}/manifests/{tag}",
            data=manifest.encode(),
            method="PUT",
            headers={"Content-Type": media_type or MANIFEST_TYPES[0], "Authorization": self.auth_header()},
        )
        with urllib.request.urlopen(req, timeout=10):
            log.info("registry tag %s:%s -> %s (ECR PutImage)", repository, tag, digest)

    def on_push(self, target):
        repository, tag, digest = target.get("repository"), target.get("tag"), target.get("digest")
        if not (repository and tag and digest) or target.get("mediaType") not in MANIFEST_TYPES:
            return  # blob uploads and untagged pushes carry nothing ECR lists
        manifest, media_type = self.fetch_manifest(repository, digest)
        try:
            self.ecr.put_image(
                repositoryName=repository,
                imageManifest=manifest,
                imageManifestMediaType=media_type,
                imageTag=tag,
                imageDigest=digest,
            )
            log.info("ecr put-image %s:%s %s", repository, tag, digest)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code == "ImageAlreadyExistsException":
                log.info("ecr already has %s:%s %s", repository, tag, digest)
            else:
                log.warning("ecr put-image %s:%s failed: %s", repository, tag, code)


def secret_from_env():
    """The registry sends it in every notification (its config's `headers`);
    anything else on loopback that posts here is refused."""
    return os.environ.get("SANDBOX_BRIDGE_SECRET") or None


def handler_for(bridge, secret=None):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            given = self.headers.get("Authorization", "")
            if secret is not None and not hmac.compare_digest(given, f"Bearer {secret}"):
                log.warning("refused a notification without the registry's secret")
                self.send_response(401)
                self.end_headers()
                return
            try:
                for event in json.loads(body).get("events", []):
                    if event.get("action") == "push":
                        bridge.on_push(event.get("target", {}))
            except Exception as e:  # the registry retries on non-2xx; a bad event must not loop forever
                log.warning("event not applied: %s", e)
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args):
            pass

    return Handler


def install_tag_sync(bridge):
    """After moto's PutImage stores a tag, the registry gets it too."""
    from moto.ecr.responses import ECRResponse

    original = ECRResponse.put_image

    def put_image(self):
        result = original(self)
        tag = self._get_param("imageTag")
        if tag:
            bridge.sync_tag(
                self._get_param("repositoryName"),
                tag,
                self._get_param("imageManifest"),
                self._get_param("imageManifestMediaType"),
                self._get_param("imageDigest"),
            )
        return result

    ECRResponse.put_image = put_image


def serve(host, port, registry, endpoint, secret=None):
    """The bridge on host:port in a thread of this process (ECR's PutImage
    patched to write tags to the registry); returns the server."""
    bridge = Bridge(registry, endpoint)
    install_tag_sync(bridge)
    server = ThreadingHTTPServer((host, port), handler_for(bridge, secret))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="ecr-bridge").start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cruddur_sandbox ecr-bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.listen_port), handler_for(Bridge(args.registry, args.endpoint), secret_from_env())
    )
    logging.info("listening on 127.0.0.1:%d", args.listen_port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
