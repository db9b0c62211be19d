"""Real services for the tests, all on loopback and all stopped afterwards:

* PostgreSQL from /usr/lib/postgresql/<version>/bin (initdb + pg_ctl in a temp dir);
* moto's server as a DynamoDB stand-in;
* a JWKS endpoint serving the public half of an RSA key the tests sign tokens with.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

BACKEND_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BACKEND_DIR))

from cruddur import create_app  # noqa: E402
from cruddur.dbsetup import reset_database, setup_database  # noqa: E402

POOL_ID = "us-east-1_TestPool1"
CLIENT_ID = "cruddur-test-client"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
KID = "test-key-1"

SEED = {
    "andrewbrown": {"uuid": "9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01", "cognito": "6d4b3a2c-1e0f-4a9b-8c7d-000000000001"},
    "bayko": {"uuid": "9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e02", "cognito": "6d4b3a2c-1e0f-4a9b-8c7d-000000000002"},
    "londo": {"uuid": "9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e03", "cognito": "6d4b3a2c-1e0f-4a9b-8c7d-000000000003"},
}
SEED_ACTIVITY = "68f126b0-1ceb-4a33-88be-d90fa7109eee"  # andrewbrown, 1 reply (by bayko)
SEED_ACTIVITY_2 = "248959df-3079-4947-b847-9e0892d1bab4"  # andrewbrown, 1 reply (by londo)
SEED_REPLY = "66e12864-8c26-4c3a-9658-95a10f8fea67"  # bayko -> SEED_ACTIVITY
EXPIRED_ACTIVITY = "c8d7e6f5-a4b3-4c2d-9e0f-1a2b3c4d5e6f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- PostgreSQL
def find_pg_bin() -> Path:
    override = os.environ.get("PG_BIN")
    if override:
        if not (Path(override) / "initdb").exists():
            pytest.fail(f"PG_BIN={override} holds no initdb")
        return Path(override)

    def version(path: str) -> tuple:
        return tuple(int(p) for p in re.findall(r"\d+", path.split("/")[-3])) or (0,)

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
            "install them (apt-get install postgresql) or point PG_BIN at the directory holding initdb"
        )
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres_url():
    bin_dir = find_pg_bin()
    tmp = Path(tempfile.mkdtemp(prefix="cruddur-test-pg-"))
    run_as: dict = {}
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = pwd.getpwnam("nobody")
        os.chown(tmp, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, logfile = tmp / "data", tmp / "postgres.log"
    port = free_port()

    def run(*args: str) -> None:
        result = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=120, **run_as)
        if result.returncode != 0:
            log = logfile.read_text() if logfile.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{log}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(logfile),
        "-w",
        "-t",
        "60",
        "-o",
        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
        "start",
    )
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE cruddur")
        url = f"postgresql://postgres@127.0.0.1:{port}/cruddur"
        setup_database(url)
        yield url
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            cwd=tmp,
            capture_output=True,
            timeout=60,
            **run_as,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def scratch_db(postgres_url):
    """An empty extra database on the test server."""
    import psycopg

    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS scratch")
        conn.execute("CREATE DATABASE scratch")
    yield postgres_url.rsplit("/", 1)[0] + "/scratch"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE scratch WITH (FORCE)")


@pytest.fixture
def db_url(postgres_url):
    """The test database, reset to the seed data for this test."""
    reset_database(postgres_url)
    return postgres_url


# --------------------------------------------------------------------------- moto (DynamoDB)
@pytest.fixture(scope="session")
def moto_url():
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        wait_for_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def moto(moto_url):
    """moto with every service's state cleared (once per test)."""
    req = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    return moto_url


@pytest.fixture
def ddb(moto, app):
    """An empty messages table in a freshly reset moto."""
    from cruddur.ddb import make_client
    from cruddur.ddbsetup import create_table

    settings = app.extensions["cruddur"].settings
    create_table(make_client(settings), settings.ddb_message_table)
    return settings


# --------------------------------------------------------------------------- moto (Cognito)
class CognitoPool:
    """A user pool and app client in moto, set up like Cruddur's: users sign up
    with their email as the username and name, email, preferred_username
    (the handle) as attributes; tokens are moto's own, signed with its key."""

    PASSWORD = "Sup3r-secret-pw!"

    def __init__(self, moto_url: str, region: str = "us-east-1", *, email_as_username: bool = True):
        import boto3

        self.moto_url = moto_url
        self.client = boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=moto_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        options = {"UsernameAttributes": ["email"]} if email_as_username else {}
        pool = self.client.create_user_pool(
            PoolName="cruddur-user-pool", AutoVerifiedAttributes=["email"], **options
        )["UserPool"]
        self.pool_id = pool["Id"]
        self.client_id = self.client.create_user_pool_client(
            UserPoolId=self.pool_id,
            ClientName="cruddur",
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        self.jwks_url = f"{moto_url}/{self.pool_id}/.well-known/jwks.json"

    def sign_up(
        self,
        email: str,
        handle: str | None,
        name: str | None = "A Person",
        *,
        confirm: bool = True,
        username: str | None = None,
    ) -> str:
        """Sign up as the front end does; returns the user's sub."""
        attributes = [{"Name": "email", "Value": email}]
        if handle is not None:
            attributes.append({"Name": "preferred_username", "Value": handle})
        if name is not None:
            attributes.append({"Name": "name", "Value": name})
        username = username or email
        sub = self.client.sign_up(
            ClientId=self.client_id, Username=username, Password=self.PASSWORD, UserAttributes=attributes
        )["UserSub"]
        if confirm:
            self.client.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=username)
        return sub

    def access_token(self, username: str) -> str:
        result = self.client.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": self.PASSWORD},
        )
        return result["AuthenticationResult"]["AccessToken"]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token(username)}"}

    def env(self) -> dict[str, str]:
        return {
            "AWS_COGNITO_USER_POOL_ID": self.pool_id,
            "AWS_COGNITO_USER_POOL_CLIENT_ID": self.client_id,
            "AWS_COGNITO_JWKS_URL": self.jwks_url,
        }


@pytest.fixture
def cognito(moto):
    """A fresh Cognito user pool in moto."""
    return CognitoPool(moto)


# --------------------------------------------------------------------------- tokens
class Jwks:
    """An RSA key pair, its JWKS served over HTTP, and a token factory."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        self.document = json.dumps({"keys": [jwk]}).encode()
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                jwks.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks.document)))
                self.end_headers()
                self.wfile.write(jwks.document)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{POOL_ID}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(
        self,
        username: str = "andrewbrown",
        *,
        sub: str | None = None,
        token_use: str = "access",
        expires_in: int = 3600,
        issuer: str = ISSUER,
        client_id: str = CLIENT_ID,
        key=None,
        kid: str = KID,
        drop: tuple[str, ...] = (),
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": sub if sub is not None else SEED.get(username, {}).get("cognito", str(uuid.uuid4())),
            "iss": issuer,
            "token_use": token_use,
            "auth_time": now,
            "iat": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        if token_use == "access":
            claims.update({"client_id": client_id, "scope": "aws.cognito.signin.user.admin"})
        else:  # an id token: aud instead of client_id
            claims.update({"aud": client_id, "cognito:username": username, "email": f"{username}@example.com"})
        for name in drop:
            claims.pop(name, None)
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    def headers(self, username: str = "andrewbrown", **kwargs) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username, **kwargs)}"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def jwks():
    server = Jwks()
    yield server
    server.close()


# --------------------------------------------------------------------------- the app
@pytest.fixture(scope="session", autouse=True)
def development_credentials():
    """The app's AWS credentials come from boto3's default chain, never from
    its settings (on ECS: the task role's): here moto's, from the process
    environment, as the local stack gives them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def base_env(postgres_url, moto_url, jwks):
    return {
        "CONNECTION_URL": postgres_url,
        "DB_POOL_TIMEOUT": "2",
        "DB_CONNECT_TIMEOUT": "2",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
        "DDB_MESSAGE_TABLE": "cruddur-messages-test",
        "AWS_COGNITO_USER_POOL_ID": POOL_ID,
        "AWS_COGNITO_USER_POOL_CLIENT_ID": CLIENT_ID,
        "AWS_COGNITO_JWKS_URL": jwks.url,
        "FRONTEND_URL": "http://localhost:3000",
        "BACKEND_URL": "http://localhost:4567",
    }


@pytest.fixture(scope="session")
def app(base_env):
    application = create_app(base_env, json_logs=False)
    yield application
    application.extensions["cruddur"].db.close()


@pytest.fixture
def client(app, db_url):
    return app.test_client()


@pytest.fixture
def make_app(base_env):
    """Build extra apps with settings changed; closes their pools afterwards."""
    made = []

    def factory(**overrides):
        env = {**base_env, **overrides}
        application = create_app(env, json_logs=False)
        made.append(application)
        return application

    yield factory
    for application in made:
        application.extensions["cruddur"].db.close()


class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_server(app, db_url):
    server = LiveServer(app)
    yield server
    server.close()


@pytest.fixture
def live_server_for(db_url):
    """Serve another app (from make_app) over HTTP; stopped afterwards."""
    servers = []

    def factory(application):
        servers.append(LiveServer(application))
        return servers[-1]

    yield factory
    for server in servers:
        server.close()
