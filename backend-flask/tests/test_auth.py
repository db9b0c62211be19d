import jwt
import pytest

from conftest import CLIENT_ID, SEED

from cruddur.auth import InvalidToken, TokenVerifier
from cruddur.config import Settings
from cruddur.signup import COGNITO_REJECTED

PROTECTED = [
    ("post", "/api/activities", {"message": "hi"}),
    ("get", "/api/message_groups", None),
]


def post_activity(client, headers):
    return client.post("/api/activities", json={"message": "auth test"}, headers=headers)


def test_valid_access_token_signs_in_by_cognito_sub(client, jwks):
    # username that is no handle: the user is found by cognito_user_id = sub
    headers = jwks.headers("some-cognito-username", sub=SEED["londo"]["cognito"])
    r = post_activity(client, headers)
    assert r.status_code == 201
    assert r.get_json()["handle"] == "londo"


STRANGER_SUB = "0b0b0b0b-0000-4000-8000-000000000000"


def cruds_of(client, handle):
    return client.get(f"/api/activities/@{handle}").get_json()["profile"]["cruds_count"]


def assert_refused(r):
    """A sign-in that is not that user: refused, and nothing of theirs in the answer.

    A sub no row has goes to the sign-up path, which asks Cognito (moto here)
    about the account; moto never issued these test-key tokens, so Cognito
    refuses them: 401. What a real account claiming a taken handle gets (409,
    never the existing user) is in test_signup.py."""
    assert r.status_code == 401, r.get_json()
    assert r.get_json() == {"error": COGNITO_REJECTED}


@pytest.mark.parametrize("username", ["bayko", "BAYKO", SEED["bayko"]["cognito"]], ids=["handle", "upper", "cognito-id"])
def test_another_users_username_with_a_different_sub_is_refused(client, jwks, username):
    """Issue 14: a verified token whose sub belongs to nobody in Cruddur and
    whose username is bayko's handle (or bayko's Cognito id) must not act as bayko."""
    before = cruds_of(client, "bayko")
    r = post_activity(client, jwks.headers(username, sub=STRANGER_SUB))
    assert_refused(r)
    assert cruds_of(client, "bayko") == before
    assert "bayko" not in r.get_data(as_text=True)


def test_another_users_username_with_another_users_sub_is_that_other_user(client, jwks):
    # username says andrewbrown, sub is londo's: the sub decides, never the username
    r = post_activity(client, jwks.headers("andrewbrown", sub=SEED["londo"]["cognito"]))
    assert r.status_code == 201
    assert r.get_json()["handle"] == "londo"


def test_takeover_token_reads_nothing_on_optional_auth_routes(client, jwks):
    """notifications with a takeover token is the anonymous feed, never
    andrewbrown's notifications (bayko's reply mentioning @andrewbrown)."""
    anonymous = client.get("/api/activities/notifications").get_json()
    mine = client.get("/api/activities/notifications", headers=jwks.headers("andrewbrown")).get_json()
    assert mine != anonymous  # the check below can tell the two apart
    r = client.get("/api/activities/notifications", headers=jwks.headers("andrewbrown", sub=STRANGER_SUB))
    assert r.status_code == 200
    assert r.get_json() == anonymous


def test_takeover_token_reads_no_messages(client, ddb, jwks):
    andrew = jwks.headers("andrewbrown")
    assert client.post("/api/messages", json={"handle": "bayko", "message": "private"}, headers=andrew).status_code == 201
    r = client.get("/api/message_groups", headers=jwks.headers("andrewbrown", sub=STRANGER_SUB))
    assert_refused(r)
    assert "private" not in r.get_data(as_text=True)


def test_right_sub_signs_in_whatever_the_username(client, jwks):
    for username in ("andrewbrown", "someone-else", "6d4b3a2c-1e0f-4a9b-8c7d-000000000001"):
        r = post_activity(client, jwks.headers(username, sub=SEED["andrewbrown"]["cognito"]))
        assert r.status_code == 201
        assert r.get_json()["handle"] == "andrewbrown"


def test_token_without_sub_is_401(client, jwks):
    r = post_activity(client, jwks.headers("bayko", drop=("sub",)))
    assert r.status_code == 401
    assert r.get_json() == {"error": "token is invalid"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"expires_in": -120}, "token has expired"),
        (
            {"issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
            "token was issued by another user pool",
        ),
        ({"client_id": "another-client"}, "token was issued for another app client"),
        ({"token_use": "id"}, "an access token is required"),
        ({"kid": "unknown-kid"}, "token signed with an unknown key"),
        ({"drop": ("exp",)}, "token is invalid"),
        ({"drop": ("client_id",)}, "token was issued for another app client"),
    ],
    ids=["expired", "wrong-issuer", "wrong-client-id", "id-token", "unknown-kid", "no-exp", "no-client-id"],
)
def test_rejected_tokens_are_401(client, jwks, kwargs, message):
    r = post_activity(client, jwks.headers(**kwargs))
    assert r.status_code == 401
    assert r.get_json() == {"error": message}


def test_bad_signature_is_401(client, jwks):
    r = post_activity(client, jwks.headers(key=jwks.other_key))
    assert r.status_code == 401
    assert r.get_json() == {"error": "token signature is invalid"}


def test_tampered_payload_is_401(client, jwks):
    header, payload, signature = jwks.token("bayko").split(".")
    other_payload = jwks.token("andrewbrown").split(".")[1]
    r = post_activity(client, {"Authorization": f"Bearer {header}.{other_payload}.{signature}"})
    assert r.status_code == 401


def test_symmetric_and_unsigned_tokens_are_401(client, jwks):
    claims = jwt.decode(jwks.token(), options={"verify_signature": False})
    for token in (
        jwt.encode(claims, "a-shared-secret-that-is-long-enough!", algorithm="HS256", headers={"kid": "test-key-1"}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": "test-key-1"}),
    ):
        r = post_activity(client, {"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.get_json() == {"error": "token is not signed with RS256"}


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "missing bearer token"),
        ("Bearer", "missing bearer token"),
        ("Bearer   ", "missing bearer token"),
        ("Basic dXNlcjpwYXNz", "missing bearer token"),
        ("Bearer not.a.jwt", "malformed token"),
        ("Bearer garbage", "malformed token"),
    ],
)
def test_missing_or_malformed_header_is_401(client, header, message):
    headers = {"Authorization": header} if header is not None else {}
    for method, url, body in PROTECTED:
        r = getattr(client, method)(url, json=body, headers=headers)
        assert r.status_code == 401, (url, header)
        assert r.get_json() == {"error": message}


def test_bearer_scheme_is_case_insensitive(client, jwks):
    r = post_activity(client, {"Authorization": "bearer " + jwks.token("bayko")})
    assert r.status_code == 201


def test_valid_token_of_an_account_cognito_does_not_know_is_401(client, jwks, db_url):
    r = post_activity(client, jwks.headers("stranger", sub="11111111-2222-4333-8444-555555555555"))
    assert r.status_code == 401
    assert r.get_json() == {"error": COGNITO_REJECTED}
    assert client.get("/api/users/@stranger/short").status_code == 404


def test_auth_not_configured_is_401(make_app, db_url, jwks):
    app = make_app(AWS_COGNITO_USER_POOL_ID="", AWS_COGNITO_USER_POOL_CLIENT_ID="")
    client = app.test_client()
    for method, url, body in PROTECTED:
        r = getattr(client, method)(url, json=body, headers=jwks.headers())
        assert r.status_code == 401
        assert r.get_json() == {"error": "sign-in is not configured on this server"}
    # optional-auth routes just see an anonymous caller
    assert client.get("/api/activities/notifications", headers=jwks.headers()).status_code == 200


def test_jwks_unreachable_is_503_not_500(make_app, db_url, jwks):
    from conftest import free_port

    app = make_app(AWS_COGNITO_JWKS_URL=f"http://127.0.0.1:{free_port()}/jwks.json")
    r = post_activity(app.test_client(), jwks.headers())
    assert r.status_code == 503
    assert r.get_json() == {"error": "sign-in keys unavailable, try again later"}


def test_jwks_is_fetched_once_and_cached(make_app, db_url, jwks):
    app = make_app()
    client = app.test_client()
    before = jwks.fetches
    for _ in range(5):
        assert post_activity(client, jwks.headers("bayko")).status_code == 201
    assert jwks.fetches - before == 1


def test_unknown_kid_refetch_is_rate_limited(jwks):
    settings = Settings(
        cognito_user_pool_id="us-east-1_TestPool1", cognito_client_id=CLIENT_ID, cognito_jwks_url=jwks.url
    )
    verifier = TokenVerifier(settings, refetch_interval=3600)
    verifier.verify(jwks.token())
    before = jwks.fetches
    for i in range(5):
        with pytest.raises(InvalidToken):
            verifier.verify(jwks.token(kid=f"made-up-{i}"))
    assert jwks.fetches == before


def test_expiry_leeway_is_small(jwks):
    settings = Settings(
        cognito_user_pool_id="us-east-1_TestPool1", cognito_client_id=CLIENT_ID, cognito_jwks_url=jwks.url
    )
    verifier = TokenVerifier(settings)
    assert verifier.verify(jwks.token(expires_in=-2))["username"] == "andrewbrown"
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(jwks.token(expires_in=-30))


def test_jwks_url_derived_from_pool_id():
    s = Settings.from_env({"AWS_COGNITO_USER_POOL_ID": "ca-central-1_AbC123", "AWS_DEFAULT_REGION": "ca-central-1"})
    assert s.cognito_issuer == "https://cognito-idp.ca-central-1.amazonaws.com/ca-central-1_AbC123"
    assert s.jwks_url == "https://cognito-idp.ca-central-1.amazonaws.com/ca-central-1_AbC123/.well-known/jwks.json"
    s = Settings.from_env({"AWS_COGNITO_USER_POOL_ID": "ca-central-1_AbC123", "AWS_COGNITO_JWKS_URL": "http://x/j"})
    assert s.jwks_url == "http://x/j"
    assert Settings.from_env({}).jwks_url is None


def test_token_never_reaches_the_logs(client, jwks, caplog):
    token = jwks.token("bayko")
    with caplog.at_level("DEBUG"):
        post_activity(client, {"Authorization": f"Bearer {token}"})
        post_activity(client, jwks.headers(expires_in=-100))
    assert token not in caplog.text
    assert "Bearer" not in caplog.text
