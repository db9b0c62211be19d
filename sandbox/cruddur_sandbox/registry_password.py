"""The sandbox registry's password: random per sandbox (`serve`), handed out
by ECR's GetAuthorizationToken as ECR hands out its tokens, never moto's
constant `<account>-auth-token` that any local user could guess and push
with. Nothing prints it; the registry gets its bcrypt hash (seed.py)."""

from __future__ import annotations

import secrets
import time
from base64 import b64encode

from moto.core.responses import ActionResult
from moto.ecr.responses import ECRResponse

TOKEN_HOURS = 12  # what ECR's tokens last

_PASSWORD: str | None = None


def get_authorization_token(self: ECRResponse) -> ActionResult:
    registry_ids = self._get_param("registryIds") or [self.current_account]
    expires = time.time() + TOKEN_HOURS * 3600
    return ActionResult({"authorizationData": [
        {
            "authorizationToken": b64encode(f"AWS:{_PASSWORD}".encode()).decode(),
            "expiresAt": expires,
            "proxyEndpoint": f"https://{registry_id}.dkr.ecr.{self.region}.amazonaws.com",
        }
        for registry_id in registry_ids
    ]})


def install() -> None:
    """A new password for this sandbox; ECR hands it out from now on."""
    global _PASSWORD
    _PASSWORD = secrets.token_urlsafe(24)
    ECRResponse.get_authorization_token = get_authorization_token
