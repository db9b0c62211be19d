"""The sandbox registry's config (docker-registry, ECR's docker endpoint),
written by `serve` into its state directory for whoever starts the registry
(`cargo xtask sandbox up`, the tests): loopback only, ECR's token as basic
auth (the htpasswd entry the seed writes), push notifications to the ECR push
bridge carrying a secret the bridge checks. The file holds that secret: 0600."""

from __future__ import annotations

from pathlib import Path

from .state_dir import write_atomic

FILE = "registry.yml"


def render(*, registry: str, data_dir: Path, htpasswd: Path, bridge_port: int, secret: str | None) -> str:
    port = registry.rsplit(":", 1)[-1]
    headers = f"      headers:\n        Authorization: [Bearer {secret}]\n" if secret else ""
    return f"""version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {data_dir}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: cruddur-sandbox-{port}
auth:
  htpasswd:
    realm: cruddur-sandbox
    path: {htpasswd}
notifications:
  endpoints:
    - name: moto-ecr
      url: http://127.0.0.1:{bridge_port}/events
{headers}      timeout: 5s
      threshold: 5
      backoff: 1s
"""


def write(state_dir: Path, *, registry: str, htpasswd: Path, bridge_port: int, secret: str | None) -> Path:
    path = state_dir / FILE
    text = render(registry=registry, data_dir=state_dir / "registry-data", htpasswd=htpasswd,
                  bridge_port=bridge_port, secret=secret)
    write_atomic(path, text, mode=0o600)
    return path
