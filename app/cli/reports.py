"""`flask reports certify|ca-cert`: the report CA that signed PDF credit reports chain to.

Guarantees: `certify` is idempotent (it makes the root once, and a signer certificate for the
HSM key `cg-report-sign` only when none stays valid a year from now) and commits in one unit
of work; `ca-cert` prints the root (PEM), the trust anchor for `pyhanko sign validate --trust`
or a PDF reader's trusted certificates. Neither prints or needs anything secret.
"""

from __future__ import annotations

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask.cli import with_appcontext

from app.container import container
from app.services.reports.pdf.certificates import SigningNotReady, certify, the_root

group = click.Group("reports", help="Signed PDF reports: the report CA and its certificates.")


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()


@group.command("certify")
@with_appcontext
def certify_command() -> None:
    """Make the report CA's root and a report-signing certificate if they are missing."""
    parts = container()
    with parts.unit() as db:
        done = certify(db.connection(), parts.key_provider, now=parts.clock.now())
    signer = x509.load_der_x509_certificate(done.chain.signer)
    click.echo(
        f"report CA root: {'made' if done.new_root else 'kept'}; signer certificate "
        f"{'made' if done.new_signer else 'kept'}, valid until "
        f"{signer.not_valid_after_utc:%Y-%m-%d}"
    )


@group.command("ca-cert")
@with_appcontext
def ca_cert() -> None:
    """Print the report CA's root certificate (PEM)."""
    parts = container()
    try:
        with parts.snapshot() as db:
            der = the_root(db)
    except SigningNotReady as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_pem(der), nl=False)
