"""`flask` commands: hsm, db, demo, keys. Secrets are read from files or the environment, never
taken as arguments, and never printed."""

from __future__ import annotations

from flask import Flask

from app.cli import db, demo, hsm, keys


def init_app(app: Flask) -> None:
    for group in (hsm.group, db.group, demo.group, keys.group):
        app.cli.add_command(group)
