"""The door between task containers and moto: a WSGI layer in front of moto on
the network's gateway (the only moto address containers reach). It answers
what AWS would answer a task:

- `/moto-api/` (moto's control API: reset, state) does not exist (404);
- unsigned requests get MissingAuthenticationToken, except the operations AWS
  serves without SigV4 (Cognito's user-token calls such as GetUser, a user
  pool's key set, STS web identity);
- signed requests must carry credentials the sandbox issued (a task role's
  session from its credentials endpoint, or an IAM user's key) with a valid
  signature and session token, not expired;
- then IAM decides, with the real ARNs of what the request touches
  (request_arns.py) and the principal's policies (iam_policy.py): a denial is
  AccessDenied with IAM's words, and moto never sees the request.

moto's own global switch (INITIAL_NO_AUTH_ACTION_COUNT) stays off: the tool's
requests on loopback are not gated."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from moto.iam.access_control import IAMRequest
from moto.sts.models import sts_backends
from werkzeug.datastructures import EnvironHeaders

from . import iam_policy, request_arns
from .account import ACCOUNT_ID

log = logging.getLogger("cruddur_sandbox.gate")

_PUBLIC_PATHS = re.compile(r"^/[^/]+/\.well-known/(jwks\.json|openid-configuration)$")
_SCOPE = re.compile(r"Credential=([^/,\s]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request")
_TARGET_SERVICES = {"AWSCognitoIdentityProviderService": "cognito-idp"}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, query_code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.query_code = query_code or code
        self.message = message


def missing_authentication() -> Refused:
    return Refused(403, "MissingAuthenticationTokenException", "Missing Authentication Token",
                   "MissingAuthenticationToken")


def invalid_token() -> Refused:
    return Refused(400, "UnrecognizedClientException", "The security token included in the request is invalid.",
                   "InvalidClientTokenId")


class Request:
    """What the gate reads of one request."""

    def __init__(self, environ: dict, body: bytes):
        self.environ = environ
        self.body = body
        self.headers = EnvironHeaders(environ)
        self.target = self.headers.get("X-Amz-Target", "")
        self.form = {}
        if not self.target:
            pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
                pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            self.form = dict(pairs)
        self.operation = self.target.rsplit(".", 1)[-1] if self.target else self.form.get("Action", "")
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        self.access_key, self.region, self.service = scope.groups() if scope else (None, None, None)
        if self.service is None and self.target:
            self.service = _TARGET_SERVICES.get(self.target.split(".", 1)[0])
        if self.service is None and self.operation in request_arns.PUBLIC_OPERATIONS["sts"]:
            self.service = "sts"

    @property
    def json_protocol(self) -> bool:
        return bool(self.target)

    def params(self) -> dict:
        if not self.json_protocol:
            return self.form
        try:
            parsed = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def principal_of(request: Request) -> str:
    """The ARN the request's credentials belong to; refuses credentials the
    sandbox did not issue, a wrong session token, an expired session or a bad
    signature."""
    sts = sts_backends[ACCOUNT_ID][iam_policy.PARTITION]
    session = sts.get_assumed_role_from_access_key(request.access_key)
    if session is not None:
        if request.headers.get("X-Amz-Security-Token") != session.session_token:
            raise invalid_token()
        expiration = session.expiration
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=timezone.utc)
        if expiration <= datetime.now(timezone.utc):
            raise Refused(400, "ExpiredTokenException", "The security token included in the request is expired",
                          "ExpiredToken")
    path = request.environ.get("RAW_URI") or request.environ.get("PATH_INFO", "/")
    try:
        signed = IAMRequest(account_id=ACCOUNT_ID, method=request.environ["REQUEST_METHOD"], path=path,
                            data=request.form, body=request.body, headers=request.headers,
                            action=request.operation)
    except Exception:
        raise invalid_token() from None
    try:
        signed.check_signature()
    except Exception:
        raise Refused(400, "InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided.",
                      "SignatureDoesNotMatch") from None
    return session.arn if session is not None else signed._access_key.arn


def authorize(request: Request) -> None:
    """Raises Refused unless AWS would let this request through to the service."""
    service, operation = request.service, request.operation
    if operation in request_arns.PUBLIC_OPERATIONS.get(service or "", ()):
        return
    if request.access_key is None or not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
        raise missing_authentication()
    principal = principal_of(request)
    if (service, operation) in request_arns.ALWAYS_ALLOWED:
        return
    try:
        policies = iam_policy.principal_policies(principal)
    except iam_policy.NoSuchPrincipal:
        policies = []
    for action, resource in request_arns.needs(service, operation, request.params(), request.region):
        decision = iam_policy.evaluate(policies, action, resource)
        if not decision.allowed:
            message = decision.denial(principal)
            log.info("refused to a task: %s", message)
            raise Refused(400 if request.json_protocol else 403, "AccessDeniedException", message, "AccessDenied")


def _error_body(request: Request, refused: Refused) -> tuple[str, bytes]:
    request_id = str(uuid.uuid4())
    if request.json_protocol:
        body = json.dumps({"__type": refused.code, "message": refused.message})
        return "application/x-amz-json-1.1", body.encode()
    code, message = refused.query_code, _xml_escape(refused.message)
    if request.service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return "text/xml", body.encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class TaskGate:
    """WSGI middleware: `app` behind the gate."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found\n"]
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and _PUBLIC_PATHS.match(path):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        request = Request(environ, body)
        try:
            authorize(request)
        except Refused as refused:
            content_type, payload = _error_body(request, refused)
            status = {400: "400 Bad Request", 403: "403 Forbidden"}[refused.status]
            start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload))),
                                    ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [payload]
        return self.app(environ, start_response)
