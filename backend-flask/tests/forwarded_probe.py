"""A WSGI app for tests/test_forwarded.py: answers with what gunicorn put in
the environ from a request's X-Forwarded-* and forwarder headers."""

import json


def app(environ, start_response):
    body = json.dumps(
        {
            "scheme": environ["wsgi.url_scheme"],
            "script_name": environ.get("SCRIPT_NAME", ""),
            "path_info": environ.get("PATH_INFO", ""),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
