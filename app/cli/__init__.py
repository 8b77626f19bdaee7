"""`flask` commands: hsm, db, demo, keys, log, billing, lists, reports, review. Secrets are read
from files or the environment, never taken as arguments, and never printed.

Each command group (and any single command held apart from it) belongs to a side
(policies/data/sides.toml): on the other side it is still listed, marked with its side, and
refuses to run, naming both sides; nothing of it runs. A group with no side stops the app
from starting.
"""

from __future__ import annotations

import click
from flask import Flask

from app.cli import (
    accounts,
    billing,
    cards,
    db,
    demo,
    exchange,
    government,
    grades,
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
    _register(app)
    from app.container import container
    from app.services.sides import side_map

    side = container(app).settings.side.value
    commands = app.cli.commands
    side_map().check_complete((), groups=commands)
    for name in list(commands):
        commands[name] = _for_side(commands[name], side)


def _for_side(command: click.Command, side: str) -> click.Command:
    """`command` as `side` offers it: itself, a refusal, or a group mixing both."""
    from app.services.sides import serves_command, side_map

    group = command.name or ""
    if not isinstance(command, click.Group):
        return command if serves_command(side, group) else _refusal(command, side, group)
    subcommands = {
        name: sub if serves_command(side, group, name) else _refusal(sub, side, group, name)
        for name, sub in command.commands.items()
    }
    if all(subcommands[name] is sub for name, sub in command.commands.items()):
        return command
    holder = side_map().command_holder(group)
    help_text = command.help or ""
    if not serves_command(side, group):
        help_text = f"[{holder} side] {help_text}"
    return click.Group(group, commands=subcommands, help=help_text, callback=command.callback)


def _refusal(
    command: click.Command, side: str, group: str, name: str | None = None
) -> click.Command:
    from app.services.sides import side_map

    holder = side_map().command_holder(group, name)
    full = f"flask {group}" + (f" {name}" if name else "")

    def refuse() -> None:
        raise click.ClickException(
            f"`{full}` belongs to the {holder} side; this process is the {side} side "
            f"(CREDITGATE_SIDE={side}): nothing was done"
        )

    return click.Command(
        command.name,
        callback=refuse,
        help=f"[{holder} side] {command.help or ''}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )


def _register(app: Flask) -> None:
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
    app.cli.add_command(exchange.group)
    app.cli.add_command(grades.group)
    app.cli.add_command(repair.group)
