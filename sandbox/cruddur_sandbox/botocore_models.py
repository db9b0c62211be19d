"""botocore's data files (service models, endpoints) parsed once per process.

botocore caches what it loads per Loader, and moto makes a new Session, so a
new Loader, each time it builds a backend or lists a service's regions: one
sandbox's start parsed endpoints.json five times and EC2's model six, 1.4 s of
its 3.6 s of CPU (2026-12-03), in every test that starts a sandbox. The files
do not change while the process runs. The parsed data is shared the way one
Loader already shares it between its users (botocore's own merge of the SDK
extras into a model is the only write, and it gives the same result again)."""

from __future__ import annotations

import threading

_MARK = "_cruddur_parsed_once"


def parse_once() -> None:
    """For the commands that serve moto (`serve`, `oidc-token`): botocore is
    imported here, not on every command's start."""
    from botocore import loaders

    original = loaders.JSONFileLoader.load_file
    if getattr(original, _MARK, False):
        return
    lock = threading.Lock()
    parsed: dict[str, object] = {}

    def load_file(self, file_path):
        with lock:
            if file_path not in parsed:
                parsed[file_path] = original(self, file_path)
            return parsed[file_path]

    setattr(load_file, _MARK, True)
    loaders.JSONFileLoader.load_file = load_file
