"""`flask accounts ...`: staff accounts, roles, TOTP bootstrap, disabling, listing.

A new password is read from a hidden prompt (typed twice) or from the file named by
`CREDITGATE_NEW_PASSWORD_FILE`, never from an argument (arguments land in shell history and
process lists). A TOTP enrolment prints its `otpauth://` URI, which contains the secret, to the
operator's terminal only, and writes the QR code to `--qr-out` (created, never overwritten,
mode 0600); the staff member then types a code from the authenticator to confirm it.
Creating a staff account and granting or revoking a role are query-log entries
(`operator:staff:create`, `operator:role:grant|revoke`, reason naming the role), refused
ones too (`app.services.querylog.host`).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.container import Container, container
from app.models import Role
from app.services.auth.accounts import AccountError, AccountService, role_conflict, valid_username
from app.services.auth.login_attempts import AttemptLog, normalise_username
from app.services.auth.own_credentials import OwnCredentials
from app.services.auth.password_policy import PasswordRejected, check_password
from app.services.auth.sessions import SessionService
from app.services.auth.totp import Enrolment, TotpError, TotpService
from app.services.querylog.host import HostAction, code
from policies.actions import Action

PASSWORD_FILE_ENV = "CREDITGATE_NEW_PASSWORD_FILE"  # noqa: S105 - an env variable's name
PROMPT_TRIES = 3
ROLE = click.Choice([role.value for role in Role])
USERNAME = click.option("--username", required=True, help="The staff member's username.")
QR_OUT = click.option(
    "--qr-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the TOTP QR code (SVG, holds the secret) to this new file.",
)

group = click.Group("accounts", help="Staff accounts: create, roles, TOTP, disable, list.")


def _new_password(username: str) -> str:
    """The new password from the env-named file, or prompted (hidden, twice) until acceptable."""
    path = os.environ.get(PASSWORD_FILE_ENV)
    if path:
        try:
            password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise click.ClickException(
                f"cannot read the file named by {PASSWORD_FILE_ENV}: {exc.strerror}"
            ) from None
        try:
            check_password(password, username=username)
        except PasswordRejected as exc:
            raise click.ClickException(str(exc)) from None
        return password
    for _ in range(PROMPT_TRIES):
        typed: str = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        try:
            check_password(typed, username=username)
        except PasswordRejected as exc:
            click.echo(str(exc), err=True)
            continue
        return typed
    raise click.ClickException("no acceptable password was given")


def _write_qr(path: Path, svg: str) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; choose a new file for the QR code") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(svg)


def _show_enrolment(username: str, enrolment: Enrolment, qr_out: Path | None) -> None:
    click.echo(f"TOTP enrolment for {username} (pending until confirmed with a code).")
    if qr_out is not None:
        click.echo(f"QR code written to {qr_out} (it holds the secret: delete it after scanning).")
    click.echo("otpauth URI (holds the secret: do not paste it anywhere else):")
    click.echo(enrolment.otpauth_uri)


def _confirm(parts: Container, username: str) -> None:
    """Ask for codes until one confirms the pending enrolment, or the operator skips."""
    for _ in range(PROMPT_TRIES):
        code: str = click.prompt(
            "Code from the authenticator app (empty: confirm later with "
            "`flask accounts confirm-totp`)",
            default="",
            show_default=False,
        )
        if not code.strip():
            click.echo("TOTP left pending: this account cannot log in until it is confirmed.")
            return
        with parts.unit() as db:
            account = AccountService(container().passwords).find(db, username)
            if account is None:
                raise click.ClickException(f"No account named {username!r}.")
            reason = TotpService(parts.keys, parts.cipher).confirm(db, account, code)
        if reason is None:
            click.echo(f"TOTP confirmed for {username}.")
            return
        click.echo(f"The code was not accepted ({reason.value}).", err=True)
    raise click.ClickException("TOTP not confirmed; run `flask accounts confirm-totp` to retry")


@group.command("create-staff")
@USERNAME
@click.option("--role", "roles", multiple=True, required=True, type=ROLE, help="Repeatable.")
@QR_OUT
@with_appcontext
def create_staff(username: str, roles: tuple[str, ...], qr_out: Path | None) -> None:
    """Create a staff account with ROLEs, enrol its TOTP and confirm it with a code."""
    parts = container()
    logged = HostAction(parts, Action.OPERATOR_STAFF_CREATE)
    try:
        name, enrolment = _create_staff(parts, logged, username, roles, qr_out)
    except click.ClickException:
        logged.refused("bad_request")  # refused before or in the unit: nothing was made
        raise
    click.echo(f"Created staff account {name} with roles: {', '.join(sorted(set(roles)))}.")
    _show_enrolment(name, enrolment, qr_out)
    _confirm(parts, name)


def _create_staff(
    parts: Container,
    logged: HostAction,
    username: str,
    roles: tuple[str, ...],
    qr_out: Path | None,
) -> tuple[str, Enrolment]:
    try:
        name = valid_username(username)
    except AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="--username") from None
    conflict = role_conflict(roles)
    if conflict is not None:
        raise click.BadParameter(conflict, param_hint="--role")
    if qr_out is not None and qr_out.exists():
        raise click.ClickException(f"{qr_out} exists; choose a new file for the QR code")
    password = _new_password(name)
    try:
        with parts.unit() as db:
            account = AccountService(parts.passwords).create_staff(db, name, password, roles)
            account.password_must_change = True  # set by the operator: changed at first login
            enrolment = TotpService(parts.keys, parts.cipher).enrol(db, account)
            if qr_out is not None:
                _write_qr(qr_out, enrolment.qr_svg)
            logged.done(db, code("created_with_" + "_".join(sorted(set(roles)))))
    except (AccountError, PasswordRejected, TotpError) as exc:
        raise click.ClickException(str(exc)) from None
    return name, enrolment


@group.command("reset-totp")
@USERNAME
@QR_OUT
@with_appcontext
def reset_totp(username: str, qr_out: Path | None) -> None:
    """Give USERNAME a new TOTP secret (lost device); ends all of the account's sessions."""
    if qr_out is not None and qr_out.exists():
        raise click.ClickException(f"{qr_out} exists; choose a new file for the QR code")
    parts = container()
    try:
        with parts.unit() as db:
            account = AccountService(container().passwords).find(db, username)
            if account is None:
                raise AccountError(f"No account named {username!r}.")
            enrolment = TotpService(parts.keys, parts.cipher).enrol(db, account)
            if qr_out is not None:
                _write_qr(qr_out, enrolment.qr_svg)
            name = account.username
    except (AccountError, TotpError) as exc:
        raise click.ClickException(str(exc)) from None
    _show_enrolment(name, enrolment, qr_out)
    _confirm(parts, name)


@group.command("confirm-totp")
@USERNAME
@with_appcontext
def confirm_totp(username: str) -> None:
    """Confirm USERNAME's pending TOTP enrolment with a code from the authenticator."""
    _confirm(container(), normalise_username(username))


@group.command("grant-role")
@USERNAME
@click.option("--role", required=True, type=ROLE)
@with_appcontext
def grant_role(username: str, role: str) -> None:
    """Grant ROLE to USERNAME (compliance and an admin role never go together)."""
    logged = HostAction(container(), Action.OPERATOR_ROLE_GRANT)
    try:
        with container().unit() as db:
            granted = AccountService(container().passwords).grant_role(db, username, role)
            logged.done(db, code(("granted_" if granted else "held_") + role))
    except AccountError as exc:
        logged.refused(code("refused_" + role))
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{'Granted' if granted else 'Already held:'} {role} to {normalise_username(username)}."
    )


@group.command("revoke-role")
@USERNAME
@click.option("--role", required=True, type=ROLE)
@with_appcontext
def revoke_role(username: str, role: str) -> None:
    """Revoke ROLE from USERNAME."""
    logged = HostAction(container(), Action.OPERATOR_ROLE_REVOKE)
    try:
        with container().unit() as db:
            revoked = AccountService(container().passwords).revoke_role(db, username, role)
            logged.done(db, code(("revoked_" if revoked else "not_held_") + role))
    except AccountError as exc:
        logged.refused(code("refused_" + role))
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{'Revoked' if revoked else 'Not held:'} {role} from {normalise_username(username)}."
    )


@group.command("disable")
@USERNAME
@click.confirmation_option(prompt="Disable the account and end all its sessions?")
@with_appcontext
def disable(username: str) -> None:
    """Disable USERNAME and end all of its sessions at once."""
    try:
        with container().unit() as db:
            ended = AccountService(container().passwords).disable(db, username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Disabled {normalise_username(username)}; ended {ended} live session(s).")


@group.command("set-password")
@USERNAME
@with_appcontext
def set_password(username: str) -> None:
    """Set a new password for USERNAME (policy-checked); ends all of its sessions. The holder
    must change it at the next login."""
    name = normalise_username(username)
    password = _new_password(name)
    parts = container()
    try:
        with parts.unit() as db:
            service = AccountService(parts.passwords)
            account = service.find(db, name)
            if account is None:
                raise AccountError(f"No account named {name!r}.")
            ended = _own(parts).set_by_operator(db, account, password)
    except (AccountError, PasswordRejected) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password changed for {name}; ended {ended} live session(s).")
    click.echo("The holder must change it at the next login.")


def _own(parts: Container) -> OwnCredentials:
    return OwnCredentials(
        AttemptLog(parts.key_provider), AccountService(parts.passwords), SessionService()
    )


@group.command("sessions")
@USERNAME
@with_appcontext
def sessions(username: str) -> None:
    """List USERNAME's live sessions (handles only; never a session id)."""
    parts = container()
    name = normalise_username(username)
    with parts.unit() as db:
        account = AccountService(parts.passwords).find(db, name)
        if account is None:
            raise click.ClickException(f"No account named {name!r}.")
        views = _own(parts).sessions_of(db, account.id)
    for view in views:
        click.echo(
            f"{view.handle}  started {view.started_at:%Y-%m-%d %H:%M}Z  "
            f"last {view.last_seen_at:%Y-%m-%d %H:%M}Z  {'+'.join(view.methods)}"
        )
    click.echo(f"{len(views)} live session(s) for {name}.")


@group.command("end-sessions")
@USERNAME
@with_appcontext
def end_sessions(username: str) -> None:
    """End every session of USERNAME at once (a suspected compromise, a lost device)."""
    parts = container()
    name = normalise_username(username)
    try:
        with parts.unit() as db:
            ended = _own(parts).end_all(db, name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Ended {ended} live session(s) of {name}.")


@group.command("list")
@click.option("--all", "everyone", is_flag=True, help="Every kind of account, not only staff.")
@with_appcontext
def list_accounts(everyone: bool) -> None:
    """List accounts: username, kind, status, TOTP state, roles."""
    with container().unit() as db:
        rows = AccountService(container().passwords).list_accounts(
            db, None if everyone else "staff"
        )
    for row in rows:
        roles = ",".join(row.roles) or "-"
        click.echo(f"{row.username}\t{row.kind}\t{row.status}\ttotp={row.totp}\t{roles}")
