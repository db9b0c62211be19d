"""The former seed.py and ecr_bridge.py keep their command lines."""

import json
import os
import subprocess
import sys

from conftest import REPO, SANDBOX_DIR


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "cruddur_sandbox", *args], capture_output=True, text=True,
                          cwd=SANDBOX_DIR, env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR), **kw), timeout=120)


def test_seed_is_idempotent_and_keeps_the_agents_connection_url(sandbox, tmp_path):
    before = sandbox.ssm.get_parameter(Name="/cruddur/backend-flask/CONNECTION_URL", WithDecryption=True)["Parameter"]
    out = run("seed", "--endpoint", sandbox.info["endpoint"], "--policies", str(REPO / "infra" / "policies"),
              "--htpasswd", str(tmp_path / "htpasswd"))
    assert out.returncode == 0, out.stderr
    seeded = json.loads(out.stdout)
    assert seeded["subnets"] == sandbox.subnets and seeded["security_group"] == sandbox.security_group
    assert seeded["registry_user"] == "AWS"
    line = (tmp_path / "htpasswd").read_text()
    assert line.startswith("AWS:$2b$") and oct((tmp_path / "htpasswd").stat().st_mode)[-3:] == "600"
    after = sandbox.ssm.get_parameter(Name="/cruddur/backend-flask/CONNECTION_URL", WithDecryption=True)["Parameter"]
    assert after["Value"] == before["Value"] and after["Version"] == before["Version"]


def test_the_commands_explain_themselves():
    for args in (["--help"], ["serve", "--help"], ["status", "--help"], ["cleanup", "--help"], ["seed", "--help"],
                 ["ecr-bridge", "--help"], ["oidc-token", "--help"]):
        out = run(*args)
        assert out.returncode == 0 and "usage:" in out.stdout, (args, out.stderr)
    out = run("status", "--state-dir", "/nonexistent-sandbox-dir")
    assert out.returncode == 1 and "not running" in out.stdout


def test_seed_users_sign_in_and_their_id_token_names_them(sandbox):
    """The front end shows the name and handle of the ID token's claims: the
    seeded app client must put them there (moto only includes what it names)."""
    import base64

    import boto3

    seed = sandbox.info["seed"]
    cognito = boto3.client("cognito-idp", **sandbox.kw)
    auth = cognito.admin_initiate_auth(
        UserPoolId=seed["user_pool_id"], ClientId=seed["user_pool_client_id"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bayko@exampro.co", "PASSWORD": "Cruddur-Sandbox-1!"})
    payload = auth["AuthenticationResult"]["IdToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["preferred_username"] == "bayko" and claims["name"] == "Andrew Bayko", claims
    assert claims["email"] == "bayko@exampro.co", claims
