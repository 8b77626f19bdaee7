"""WSGI entry point: `gunicorn wsgi:app`. Settings come from the environment."""

from app.factory import create_app

app = create_app()
