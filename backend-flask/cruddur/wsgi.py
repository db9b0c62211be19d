"""WSGI entry point: ``gunicorn cruddur.wsgi:app`` (or ``flask --app cruddur.wsgi run``)."""

from . import create_app

app = create_app()
