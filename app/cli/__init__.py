"""`flask` commands: hsm, db, demo, keys, log, billing, lists, reports, review. Secrets are read
from files or the environment, never taken as arguments, and never printed."""

from __future__ import annotations

from flask import Flask

from app.cli import (
    accounts,
    billing,
    cards,
    db,
    demo,
    government,
    hsm,
    institutions,
    intake,
    keys,
    lists,
    log,
    objections,
    repair,
    reports,
    review,
    staff_relations,
    statistics,
    subjects,
)


def init_app(app: Flask) -> None:
    for group in (hsm.group, db.group, demo.group, keys.group, log.group):
        app.cli.add_command(group)
    app.cli.add_command(institutions.group)
    app.cli.add_command(government.group)
    accounts.group.add_command(staff_relations.declare_relation)
    app.cli.add_command(accounts.group)
    app.cli.add_command(cards.group)
    app.cli.add_command(billing.group)
    app.cli.add_command(lists.group)
    app.cli.add_command(subjects.group)
    app.cli.add_command(intake.providers)
    app.cli.add_command(intake.group)
    app.cli.add_command(statistics.group)
    app.cli.add_command(reports.group)
    app.cli.add_command(review.group)
    app.cli.add_command(objections.group)
    app.cli.add_command(repair.group)
