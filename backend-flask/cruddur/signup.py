"""Cruddur users for new sign-ups.

The original Cruddur created the ``users`` row in a Cognito post-confirmation
Lambda; here the first authenticated request of a confirmed Cognito user with
no row creates it.  Access tokens carry no ``email``, ``name`` or
``preferred_username``, so they come from Cognito's GetUser, called with the
user's own access token (no AWS credentials needed; ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_COGNITO_IDP`` send it to an emulator).

A handle that another row already has is a 409: the new account is never
linked to an existing user (that is ``bin/update-cognito-user-ids``' job).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from .aws import cognito_client
from .config import Settings
from .errors import BadRequest, Conflict, ServiceUnavailable, Unauthorized

log = logging.getLogger("cruddur.signup")

HANDLE_RE = re.compile(r"^[a-z0-9_]{1,64}$")
DISPLAY_NAME_MAX_LENGTH = 100
COGNITO_UNREACHABLE = "cannot reach Cognito to set up your Cruddur user, try again later"
COGNITO_REJECTED = "Cognito no longer accepts this sign-in (signed out or disabled)"
# GetUser's answers that mean "this token or account is no good", as opposed to Cognito trouble.
_REJECTED_CODES = {
    "NotAuthorizedException",
    "UserNotFoundException",
    "UserNotConfirmedException",
    "PasswordResetRequiredException",
}


class CognitoDirectory:
    """Reads a signed-in user's attributes from Cognito (GetUser)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = cognito_client(self._settings)
                    except Exception as exc:  # bad region or endpoint URL
                        log.warning("cannot create the Cognito client: %s", exc.__class__.__name__)
                        raise ServiceUnavailable(COGNITO_UNREACHABLE) from exc
        return self._client

    def user_attributes(self, access_token: str) -> dict[str, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_user(AccessToken=access_token)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # Only the code: Cognito's messages may quote the token.
            if code in _REJECTED_CODES:
                log.info("Cognito GetUser refused the token: %s", code)
                raise Unauthorized(COGNITO_REJECTED) from exc
            log.warning("Cognito GetUser failed: %s", code or exc.__class__.__name__)
            raise ServiceUnavailable(COGNITO_UNREACHABLE) from exc
        except BotoCoreError as exc:
            log.warning("Cognito GetUser failed: %s", exc.__class__.__name__)
            raise ServiceUnavailable(COGNITO_UNREACHABLE) from exc
        return {a["Name"]: a.get("Value", "") for a in response.get("UserAttributes", [])}


def create_user(db, directory: CognitoDirectory, access_token: str, sub: str) -> dict[str, Any]:
    """The ``users`` row for a signed-in Cognito user who has none yet."""
    attributes = directory.user_attributes(access_token)
    if attributes.get("sub") and attributes["sub"] != sub:
        # GetUser answered for another account than the token names: never trust it.
        log.warning("Cognito GetUser answered for another sub than the token's")
        raise Unauthorized(COGNITO_REJECTED)
    raw_handle = (attributes.get("preferred_username") or "").strip()
    if not raw_handle:
        raise BadRequest("your account has no handle (preferred_username): cannot create your Cruddur user")
    handle = raw_handle.lstrip("@").lower()
    if not HANDLE_RE.match(handle):
        raise BadRequest(f"your handle '{raw_handle}' is not valid (1-64 letters, digits or _)")
    email = (attributes.get("email") or "").strip()
    if not email:
        raise BadRequest("your account has no email: cannot create your Cruddur user")
    display_name = (attributes.get("name") or "").strip()[:DISPLAY_NAME_MAX_LENGTH] or handle

    with db.connection() as conn:
        # DO NOTHING on either unique key: a taken handle, or this sub's row
        # made by a concurrent first request (the INSERT waits for it to commit).
        row = conn.execute(
            """
            INSERT INTO users (display_name, handle, email, cognito_user_id)
            VALUES (%(display_name)s, %(handle)s, %(email)s, %(sub)s)
            ON CONFLICT DO NOTHING
            RETURNING uuid, handle, display_name
            """,
            {"display_name": display_name, "handle": handle, "email": email, "sub": sub},
        ).fetchone()
        if row is not None:
            log.info("created Cruddur user @%s for a new sign-up", handle)
            return row
        row = conn.execute(
            "SELECT uuid, handle, display_name FROM users WHERE cognito_user_id = %(sub)s", {"sub": sub}
        ).fetchone()
        if row is not None:
            return row
    raise Conflict(f"the handle @{handle} is already taken by another Cruddur user")
