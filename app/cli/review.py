"""`flask review search|entry|unexplained|verify-consent|flags|sweep` and `flask review case
list|show|step|open-lift`: the compliance officers' console at the command line, with the same
use cases, answers and log entries as the API, and the sweep of the review rules (for cron; it
answers nobody and needs no officer; each new flag opens a case).

The officer names themselves (`--officer`); every command is a logged query under that account.
A subject is searched by ID number only through `--ask-subject`, which asks for it at a hidden
prompt (an argument lands in shell history and process lists); the number is turned into its
blind index and never printed, stored or logged. Output is JSON; `unexplained` exits 1 when
any disclosure is unexplained (for cron), like a refused command.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.outcomes import Answer, Answered
from app.services.querylog.attempt import Asker, Body
from app.services.review.cases import STATE_FILTERS, CaseDesk, case_id_of
from app.services.review.consent_check import ConsentCheck
from app.services.review.console import LogReview
from app.services.review.flags import FlagList, overdue_count
from app.services.review.operators import officer_asker
from app.services.review.sweep import Sweep
from policies.cases import STEPS

group = click.Group("review", help="Compliance officers: search and review the query log.")
OFFICER = click.option("--officer", required=True, help="Your staff username (compliance role).")


def _asker(username: str) -> Asker:
    found = officer_asker(container(), username)
    if found is None:
        raise click.ClickException("--officer must name an active staff account")
    return found


def _print(outcome: Answer) -> dict[str, Any]:
    if not isinstance(outcome, Answered):
        raise click.ClickException(f"{outcome.error}: {outcome.message}")
    document = dict(outcome.document)
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    return document


FILTERS = ("from", "to", "actor_kind", "actor", "tier", "action", "decision", "reason",
           "purpose", "consent_id", "request_id", "subject_bidx", "limit", "cursor")  # fmt: skip


@group.command("search")
@OFFICER
@click.option("--from", "from_", help="First day (YYYY-MM-DD) or time (ISO 8601).")
@click.option("--to", help="Last day (YYYY-MM-DD, included) or time (excluded).")
@click.option("--actor-kind", help="subject | staff | institution | payment_provider | anonymous")
@click.option("--actor", help="Account id, client id, username or credit code.")
@click.option("--tier", help="public | self | archive | institution | compliance | …")
@click.option("--action", help="An action of the policy, e.g. institution:report:query.")
@click.option("--decision", help="allowed | denied | failed")
@click.option("--reason", help="The decision's reason code.")
@click.option("--purpose", help="An institution's declared purpose.")
@click.option("--consent-id", help="A consent token's id (jti).")
@click.option("--request-id", help="A request id (X-Request-Id).")
@click.option("--subject-bidx", help="A subject's blind index (hex), as a search echoed it.")
@click.option("--ask-subject", is_flag=True, help="Ask for a subject's ID number (hidden).")
@click.option("--limit", help="Entries per page (1..200, default 50).")
@click.option("--cursor", help="next_cursor of the previous page.")
@with_appcontext
def search(officer: str, from_: str | None, ask_subject: bool, **given: str | None) -> None:
    """A page of query-log entries, newest first."""
    asker = _asker(officer)
    sent: dict[str, Any] = {"from": from_, **given}
    if ask_subject:
        sent["subject"] = click.prompt("Subject's citizen ID number", hide_input=True)
    sent = {key: value for key, value in sent.items() if value is not None}
    _print(LogReview(container()).search(asker, Body(sent)))


@group.command("entry")
@OFFICER
@click.argument("seq", type=click.IntRange(min=0))
@with_appcontext
def entry(officer: str, seq: int) -> None:
    """One entry: who, when, the decision and its rules, what explains it."""
    _print(LogReview(container()).entry(_asker(officer), seq))


@group.command("unexplained")
@OFFICER
@click.option("--from", "from_", help="First day (YYYY-MM-DD).")
@click.option("--to", help="Last day (YYYY-MM-DD, included).")
@with_appcontext
def unexplained(officer: str, from_: str | None, to: str | None) -> None:
    """Every disclosure nothing explains (exit 1 if there is any)."""
    asker = _asker(officer)
    cursor: str | None = None
    found = 0
    while True:
        sent = {"from": from_, "to": to, "cursor": cursor, "limit": "500"}
        outcome = LogReview(container()).unexplained(asker, sent)
        if not isinstance(outcome, Answered):
            raise click.ClickException(f"{outcome.error}: {outcome.message}")
        for line in outcome.document["unexplained"]:
            found += 1
            click.echo(f"{line['seq']}\t{line['at']}\t{line['action']}\t{line['problem']}")
        cursor = outcome.document["next_cursor"]
        if cursor is None:
            break
    click.echo(f"{found} unexplained disclosure(s)", err=True)
    if found:
        sys.exit(1)


@group.command("verify-consent")
@OFFICER
@click.argument("consent_id")
@with_appcontext
def verify_consent(officer: str, consent_id: str) -> None:
    """Verify a consent token's signature again under the subject's card (exit 1 unless valid)."""
    document = _print(ConsentCheck(container()).verify(_asker(officer), consent_id))
    if document["verdict"] != "signature_valid":
        sys.exit(1)


@group.command("flags")
@OFFICER
@click.option("--rule", help="A rule id of policies/data/review.toml.")
@click.option("--severity", help="low | medium | high")
@click.option("--limit", help="Flags per page (1..200, default 50).")
@click.option("--cursor", help="next_cursor of the previous page.")
@with_appcontext
def flags(officer: str, **sent: str | None) -> None:
    """What the review rules flagged, newest first, and the objections past their answer day."""
    _print(FlagList(container()).page(_asker(officer), sent))


@group.command("sweep")
@click.option("--from-start", is_flag=True, help="Read the whole log again (flags are kept).")
@click.option("--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@with_appcontext
def sweep(from_start: bool, batch: int) -> None:
    """Run the review rules (policies/data/review.toml) over the entries since the last sweep."""
    parts = container()
    done = Sweep(parts).sweep(now=parts.clock.now(), batch=batch, from_start=from_start)
    click.echo(
        f"read {done.read} entries up to {done.last_seq}: "
        f"{done.raised} new flag(s), {done.updated} updated"
    )
    late = overdue_count(parts, parts.clock.today())
    click.echo(f"{late} objection(s) open past their answer day (see: flask review flags)")


# --- cases -------------------------------------------------------------------------------------

case_group = click.Group("case", help="Review cases: list, show, open, and take a step on them.")
group.add_command(case_group)


def _case_id(text: str) -> uuid.UUID:
    found = case_id_of(text)
    if found is None:
        raise click.BadParameter("not a case id", param_hint="CASE_ID")
    return found


@case_group.command("list")
@OFFICER
@click.option("--state", type=click.Choice(STATE_FILTERS), help="A state, or active.")
@click.option("--overdue", is_flag=True, help="Only cases past their deadline.")
@click.option("--limit", help="Cases per page (1..200, default 50).")
@click.option("--cursor", help="next_cursor of the previous page.")
@with_appcontext
def case_list(
    officer: str, state: str | None, overdue: bool, limit: str | None, cursor: str | None
) -> None:
    """Cases not about you, newest first."""
    sent = {"state": state, "overdue": "true" if overdue else None, "limit": limit,
            "cursor": cursor}  # fmt: skip
    _print(CaseDesk(container()).page(_asker(officer), sent))


@case_group.command("show")
@OFFICER
@click.argument("case_id")
@with_appcontext
def case_show(officer: str, case_id: str) -> None:
    """One case: its flag, its history and the steps open to you."""
    _print(CaseDesk(container()).show(_asker(officer), _case_id(case_id)))


@case_group.command("step")
@OFFICER
@click.argument("case_id")
@click.argument("step", type=click.Choice(STEPS))
@click.option("--note", help="Your note and reason (required but to take a case).")
@click.option("--outcome", help="When closing: no_action | suspend_institution | lift_suspension")
@with_appcontext
def case_step(officer: str, case_id: str, step: str, note: str | None, outcome: str | None) -> None:
    """Take STEP (take, note, clear, escalate, close) on the case; escalating and closing an
    escalated case take a second officer."""
    given = {"step": step, "note": note, "outcome": outcome}
    sent = {key: value for key, value in given.items() if value is not None}
    _print(CaseDesk(container()).step(_asker(officer), _case_id(case_id), Body(sent)))


@case_group.command("open-lift")
@OFFICER
@click.option("--institution", required=True, help="The suspended institution's client id.")
@click.option("--note", required=True, help="Why the suspension should be lifted.")
@with_appcontext
def case_open_lift(officer: str, institution: str, note: str) -> None:
    """Open a case to lift an institution's suspension (lifted only when a second officer
    closes it after escalation)."""
    sent = Body({"institution": institution, "note": note})
    _print(CaseDesk(container()).open_lift(_asker(officer), sent))
