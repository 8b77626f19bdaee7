"""`flask` commands: hsm, db, demo, keys, log, billing, lists, reports. Secrets are read from
files or the environment, never taken as arguments, and never printed."""

from __future__ import annotations

from flask import Flask

from app.cli import (
    accounts,
    billing,
    cards,
    db,
    demo,
    hsm,
    institutions,
    intake,
    keys,
    lists,
    log,
    objections,
    reports,
    statistics,
    subjects,
)


def init_app(app: Flask) -> None:
    for group in (hsm.group, db.group, demo.group, keys.group, log.group):
        app.cli.add_command(group)
    app.cli.add_command(institutions.group)
    app.cli.add_command(accounts.group)
    app.cli.add_command(cards.group)
    app.cli.add_command(billing.group)
    app.cli.add_command(lists.group)
    app.cli.add_command(subjects.group)
    app.cli.add_command(intake.providers)
    app.cli.add_command(intake.group)
    app.cli.add_command(statistics.group)
    app.cli.add_command(reports.group)
    app.cli.add_command(objections.group)
