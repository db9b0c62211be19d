"""infra/policies/ through parliament (PyPI, in the sandbox's virtualenv, as
the issue asks): every identity policy lints clean, and the lint is real (a
misspelled action is found). Trust policies (`*-trust.json`) are not identity
policies: parliament calls any of them malformed (no Resource); what they
say is checked where it matters (the agent assumes a role only when its
trust policy lets ECS tasks, and `verify` reads them)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

POLICIES = REPO / "infra" / "policies"
PARLIAMENT = Path(sys.executable).with_name("parliament")
# ${PLACEHOLDER}s the tool fills: values of the right shape, for the linter
SAMPLES = {"AWS_ACCOUNT_ID": "123456789012", "AWS_REGION": "us-east-1"}


def findings(files: list[Path]) -> list[dict]:
    out = subprocess.run([str(PARLIAMENT), "--json", "--files", ",".join(map(str, files))],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode in (0, 1), out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def filled_copies(dest: Path, files: list[Path]) -> list[Path]:
    copies = []
    for f in files:
        text = re.sub(r"\$\{([A-Z_]+)(:-[^}]*)?\}", lambda m: SAMPLES.get(m.group(1), "placeholder"), f.read_text())
        copy = dest / f.name
        copy.write_text(text)
        copies.append(copy)
    return copies


def identity_policies() -> list[Path]:
    return sorted(p for p in POLICIES.glob("*.json") if not p.name.endswith("-trust.json"))


def test_every_identity_policy_passes_parliament(tmp_path):
    files = identity_policies()
    names = [f.name for f in files]
    assert {"service-execution-policy.json", "task-policy.json", "setup-task-policy.json"} <= set(names), names
    found = findings(filled_copies(tmp_path, files))
    assert found == [], "\n".join(f"{Path(f['location']['filepath']).name}: {f['issue']} {f['detail']}" for f in found)


def test_parliament_finds_a_misspelled_action(tmp_path):
    policy = json.loads((POLICIES / "task-policy.json").read_text())
    policy["Statement"][0]["Action"] = ["dynamodb:Qeury"]
    bad = tmp_path / "task-policy.json"
    bad.write_text(json.dumps(policy))
    assert [f["issue"] for f in findings([bad])] == ["UNKNOWN_ACTION"]
