"""`flask providers register|list` and `flask intake load|receipt`: departments' data in.

`intake load FILE --provider CODE` verifies FILE's detached signature (FILE.sig by default:
`openssl dgst -sha256 -sign provider-key.pem -out FILE.sig FILE`) under the provider's
registered key, then streams the rows in chunks of 1,000 (flat memory, whatever the file's
size) with a progress bar on stderr, and prints the receipt: counts and the first errors, each
naming row, field and rule, never a value. The same file twice is refused as a replay; a load
that was cut off resumes when the same file is loaded again. Exit codes: 0 loaded (refused rows
are in the receipt), 1 refused (bad signature, unknown provider, replay).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from app.container import container
from app.services.intake.batches import BatchService, ReplayedBatch, Submission, receipt
from app.services.intake.providers import ProviderError, ProviderService, provider_by_code
from app.services.intake.rows import FORMATS, read_rows
from app.services.intake.signed_file import (
    MAX_SIGNATURE_BYTES,
    BadSignature,
    HashingReader,
    digest_file,
    verify_signature,
)
from app.services.oauth.institutions import MAX_KEY_FILE_BYTES
from app.services.querylog.log import new_request_id
from policies.intake_rules import default_intake_rules

providers = click.Group("providers", help="Data providers: register, list.")
group = click.Group("intake", help="Department intake: load signed files, show receipts.")
_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@providers.command("register")
@click.option("--credit-code", required=True, help="Unified social credit code (GB 32100).")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(default_intake_rules().provider_kinds))
@click.option("--public-key", "key_file", required=True, type=_FILE, help="PEM public key.")
@with_appcontext
def register(credit_code: str, name: str, kind: str, key_file: Path) -> None:
    """Register a provider and its OAuth client (scope provider:records:submit)."""
    if key_file.stat().st_size > MAX_KEY_FILE_BYTES:
        raise click.BadParameter("the file is too large to be a PEM public key")
    try:
        with container().unit() as db:
            view = ProviderService(default_intake_rules()).register(
                db,
                credit_code=credit_code,
                name=name,
                kind=kind,
                public_key_pem=key_file.read_bytes(),
            )
    except ProviderError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered provider {view.name} ({view.credit_code}, {view.kind})")
    click.echo(f"client_id: {view.client_id}  (scope provider:records:submit, private_key_jwt)")


@providers.command("list")
@with_appcontext
def list_command() -> None:
    with container().unit() as db:
        views = ProviderService(default_intake_rules()).list_all(db)
    for view in views:
        click.echo(
            f"{view.credit_code}  {view.kind:<18}  {view.client_id or '-':<22}  "
            f"{view.status:<9}  {view.name}"
        )


def _show(summary: dict[str, object]) -> None:
    counts = summary["counts"]
    assert isinstance(counts, dict)
    click.echo(f"batch {summary['batch_id']} ({summary['status']})")
    click.echo("  " + "  ".join(f"{name} {value}" for name, value in counts.items()))
    errors = summary["errors"]
    assert isinstance(errors, list)
    for error in errors:
        field = error["field"] or "-"
        click.echo(f"  row {error['row']}: {field}: {error['rule']}: {error['message']}")
    if summary["errors_truncated"]:
        click.echo(
            f"  ... {summary['errors_total']} refused rows in all: "
            f"flask intake receipt {summary['batch_id']} --after-row N"
        )


def _advance(bar: Any, count: int) -> None:
    bar.update(count)


@group.command("load")
@click.argument("path", type=_FILE)
@click.option("--provider", "credit_code", required=True, help="The provider's credit code.")
@click.option("--signature", type=_FILE, help="Detached signature (default: PATH.sig).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: by extension.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def load(
    path: Path, credit_code: str, signature: Path | None, fmt: str | None, quiet: bool
) -> None:
    """Verify and load a provider's signed batch file (JSON Lines or CSV)."""
    parts = container()
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    sig_path = signature or path.with_name(path.name + ".sig")
    if not sig_path.is_file():
        raise click.ClickException(f"no signature file {sig_path}; a batch file must be signed")
    if sig_path.stat().st_size > MAX_SIGNATURE_BYTES:
        raise click.ClickException("the signature file is too large to be a signature")
    with parts.unit() as db:
        found = provider_by_code(db, credit_code)
    if found is None:
        raise click.ClickException("no registered provider has this credit code")
    provider, client = found
    digest = digest_file(path)
    try:
        verify_signature(client.public_key_pem, digest, sig_path.read_bytes())
    except BadSignature as exc:
        raise click.ClickException(str(exc)) from None
    submission = Submission(
        provider_id=provider.id,
        source="file",
        fmt=fmt,
        sha256=digest,
        actor_ref=client.client_id,
        request_id=new_request_id(),
        client_address="cli",
        today=parts.clock.today(),
        now=parts.clock.now(),
    )
    bar = tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        disable=quiet,
        mininterval=0.5,
        desc=path.name,
    )
    try:
        with path.open("rb") as handle:
            reader = HashingReader(handle)
            rows = read_rows(reader, fmt, parts.catalog, consumed=lambda n: _advance(bar, n))
            try:
                batch_id = BatchService(parts, default_intake_rules()).run(submission, rows)
            except ReplayedBatch as replay:
                raise click.ClickException(
                    f"this file was loaded already (batch {replay.batch_id}); nothing changed"
                ) from None
            reader.drain()
    finally:
        bar.close()
    if reader.digest() != digest:
        raise click.ClickException(
            f"the file changed while it was loaded: check batch {batch_id} and load it again"
        )
    with parts.unit() as db:
        summary = receipt(db, batch_id)
    assert summary is not None
    _show(summary)


@group.command("receipt")
@click.argument("batch_id", type=click.UUID)
@click.option("--after-row", type=click.IntRange(0), default=0, show_default=True)
@with_appcontext
def receipt_command(batch_id: uuid.UUID, after_row: int) -> None:
    """Show a batch's receipt and its refused rows (100 at a time)."""
    with container().unit() as db:
        summary = receipt(db, batch_id, after_row=after_row)
    if summary is None:
        raise click.ClickException("no batch has this id")
    _show(summary)
