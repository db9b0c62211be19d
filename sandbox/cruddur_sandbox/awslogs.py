"""The awslogs log driver, as the ECS agent runs it: a container's stdout and
stderr go to CloudWatch Logs (moto's logs backend, in-process), group
`awslogs-group`, stream `<awslogs-stream-prefix>/<container name>/<task id>`,
one event per line stamped with the time docker received the line."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from moto.logs.exceptions import ResourceAlreadyExistsException
from moto.logs.models import logs_backends

from .account import ACCOUNT_ID, REGION

log = logging.getLogger("cruddur_sandbox.logs")

FLUSH_SECONDS = 0.25


def backend(region: str = REGION):
    return logs_backends[ACCOUNT_ID][region]


class LogGroupMissing(Exception):
    pass


def options(definition: dict[str, Any]) -> dict[str, str] | None:
    conf = definition.get("logConfiguration") or {}
    if conf.get("logDriver") != "awslogs":
        return None
    return dict(conf.get("options") or {})


def stream_name(opts: dict[str, str], container: str, task_id: str) -> str:
    prefix = opts.get("awslogs-stream-prefix")
    # Without a prefix, ECS on Fargate refuses the task definition; on EC2 the
    # stream is named after the container id. The sandbox uses the task id.
    return f"{prefix}/{container}/{task_id}" if prefix else f"{container}/{task_id}"


def prepare(opts: dict[str, str], stream: str) -> None:
    """Creates the stream (and the group when awslogs-create-group is true);
    a missing group fails the task as on Fargate."""
    region = opts.get("awslogs-region") or REGION
    group = opts.get("awslogs-group", "")
    be = backend(region)
    if group not in be.groups:
        if str(opts.get("awslogs-create-group", "")).lower() == "true":
            try:
                be.create_log_group(group, {})
            except ResourceAlreadyExistsException:
                pass
        else:
            raise LogGroupMissing(
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not "
                f"exist. (log group {group!r})"
            )
    try:
        be.create_log_stream(group, stream)
    except ResourceAlreadyExistsException:
        pass


def parse_line(raw: bytes) -> tuple[int, str]:
    """`2026-11-26T07:53:35.123456789Z text` -> (epoch ms, text)."""
    text = raw.decode("utf-8", "replace")
    stamp, sep, rest = text.partition(" ")
    if sep and stamp.endswith("Z") and "T" in stamp:
        try:
            head, _, frac = stamp[:-1].partition(".")
            dt = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
            ms = int(dt.timestamp() * 1000) + int((frac + "000")[:3])
            return ms, rest
        except ValueError:
            pass
    return int(time.time() * 1000), text


class Shipper:
    """Follows one container's log until the container stops. Lines are put
    at most FLUSH_SECONDS after docker has them, and all of them at the end."""

    def __init__(self, api, container_id: str, opts: dict[str, str], stream: str):
        self.api = api
        self.container_id = container_id
        self.region = opts.get("awslogs-region") or REGION
        self.group = opts["awslogs-group"]
        self.stream = stream
        self.lines = 0
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"logs-{stream}")
        self.flusher = threading.Thread(target=self._flush_loop, daemon=True, name=f"logs-flush-{stream}")

    def start(self) -> None:
        self.thread.start()
        self.flusher.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        self.flusher.join(timeout)

    def _flush(self) -> None:
        with self.lock:
            events, self.pending = self.pending, []
            if not events:
                return
            events.sort(key=lambda e: e["timestamp"])  # stdout and stderr interleave
            be = backend(self.region)
            try:
                if self.stream not in be.groups[self.group].streams:
                    be.create_log_stream(self.group, self.stream)
                be.put_log_events(self.group, self.stream, events)
                self.lines += len(events)
            except Exception as e:  # the group was deleted under us, etc.
                log.warning("log events for %s/%s dropped: %s", self.group, self.stream, e)

    def _flush_loop(self) -> None:
        while not self.done.wait(FLUSH_SECONDS):
            self._flush()
        self._flush()

    def _run(self) -> None:
        partial = b""
        try:
            chunks = self.api.logs(self.container_id, stdout=True, stderr=True, stream=True, follow=True, timestamps=True)
            for chunk in chunks:
                data = partial + chunk
                *whole, partial = data.split(b"\n")
                parsed = [parse_line(raw) for raw in whole]
                with self.lock:
                    self.pending += [{"timestamp": ts, "message": text} for ts, text in parsed]
        except Exception as e:
            log.warning("following the log of %s stopped: %s", self.container_id[:12], e)
        if partial:
            ts, text = parse_line(partial)
            with self.lock:
                self.pending.append({"timestamp": ts, "message": text})
        self.done.set()
