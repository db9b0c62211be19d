"""The state directory of one `serve`: its lock (one serve per directory),
agent.json (written atomically once the sandbox serves), and waiting for it."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

READY_FILE = "agent.json"
LOCK_FILE = "agent.lock"
SCHEMA = 1


def lock_state_dir(state_dir: Path):
    """One serve per state directory. Returns the open lock file (keep it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    f = open(state_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        raise SystemExit(f"another `serve` uses {state_dir} (pid {f.read().strip() or '?'}); stop it first") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def state_dir_in_use(state_dir: Path) -> int | None:
    """The pid of a live serve holding the state dir's lock, else None."""
    path = state_dir / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: Path, data: object) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


