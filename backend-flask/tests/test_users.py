from conftest import SEED


def test_user_short(client):
    r = client.get("/api/users/@londo/short")
    assert r.status_code == 200
    assert r.get_json() == {"uuid": SEED["londo"]["uuid"], "handle": "londo", "display_name": "Londo Mollari"}


def test_user_short_is_case_insensitive(client):
    assert client.get("/api/users/@AndrewBrown/short").get_json()["display_name"] == "Andrew Brown"


def test_user_short_unknown_is_404(client):
    r = client.get("/api/users/@ghost/short")
    assert r.status_code == 404
    assert r.get_json() == {"error": "no user with handle @ghost"}


def test_unknown_route_and_method_are_json(client, jwks):
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.get_json() == {"error": "not found"}
    r = client.delete("/api/activities/home")
    assert r.status_code == 405 and r.get_json() == {"error": "method not allowed"}
    r = client.post("/api/activities", data="x" * (65 * 1024), content_type="application/json", headers=jwks.headers())
    assert r.status_code == 413 and r.get_json() == {"error": "request body too large"}
