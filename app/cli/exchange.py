"""`flask exchange identity|register-peer|export|import`: the bundle exchange between the
registry and the portal through a transfer device (a directory; docs/exchange.md).

Each side first hands the other its identity (public keys only) and registers the other's;
operators compare the printed fingerprints out of band. `export` (registry) writes the next
publication bundle into DIR; `import` (portal) imports the bundle at DIR, or every bundle in
DIR in sequence order. A refused bundle is named with its reason and nothing of it is applied;
one already imported is skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.container import container
from app.services.exchange import files
from app.services.exchange.keys import (
    ExchangeSetupError,
    identity_document,
    register_peer,
)
from app.services.exchange.publication import publish
from app.services.exchange.receive import import_bundle
from app.services.lists.public_lists import public_record_types
from crypto.bundle import BundleRefused

group = click.Group("exchange", help="Bundles between the registry and the portal.")


@group.command("identity")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@with_appcontext
def identity_command(out: Path) -> None:
    """Write this side's exchange identity (public keys) to OUT for the peer to register."""
    parts = container()
    try:
        with parts.unit() as session:
            document, keys = identity_document(
                session, parts.key_provider, parts.settings.side.value
            )
    except ExchangeSetupError as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(document)
    click.echo(f"wrote the {keys.side}'s exchange identity to {out}")
    for name, fingerprint in keys.fingerprints.items():
        click.echo(f"  {name} SHA-256 {fingerprint}")


@group.command("register-peer")
@click.argument("document", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the peer's registered keys.")
@with_appcontext
def register_peer_command(document: Path, replace: bool) -> None:
    """Register the other side's identity DOCUMENT (compare the fingerprints first)."""
    parts = container()
    try:
        with parts.unit() as session:
            keys = register_peer(
                session, parts.settings.side.value, document.read_bytes(), replace=replace
            )
    except ExchangeSetupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered the {keys.side}'s exchange keys")
    for name, fingerprint in keys.fingerprints.items():
        click.echo(f"  {name} SHA-256 {fingerprint}")


@group.command("export")
@click.option(
    "--to", "to_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True
)
@with_appcontext
def export_command(to_dir: Path) -> None:
    """Write the next publication bundle into the transfer directory TO."""
    parts = container()
    try:
        published = publish(
            parts.unit,
            parts.key_provider,
            parts.cipher,
            side=parts.settings.side.value,
            to_dir=to_dir,
            now=parts.clock.now(),
        )
    except ExchangeSetupError as exc:
        raise click.ClickException(str(exc)) from None
    if published is None:
        click.echo("nothing to publish: the portal has everything")
        return
    exported, final = published
    counts = ", ".join(f"{n} {kind}" for kind, n in exported.counts.items())
    click.echo(f"exported bundle {exported.sequence} to {final} ({counts})")


@group.command("import")
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@with_appcontext
def import_command(source: Path) -> None:
    """Import the bundle at SOURCE, or every bundle in SOURCE in sequence order."""
    parts = container()
    if (source / files.MANIFEST).exists() or source.name.endswith(files.PARTIAL):
        bundles = [source]
    else:
        bundles = sorted(p for p in source.iterdir() if p.is_dir() and p.name.startswith("cg-"))
    if not bundles:
        raise click.ClickException(f"no bundle in {source}")
    public_types = public_record_types(parts.catalog)
    for path in bundles:
        try:
            with parts.unit() as session:
                imported = import_bundle(
                    session,
                    parts.keys,
                    side=parts.settings.side.value,
                    path=path,
                    public_types=public_types,
                )
        except BundleRefused as exc:
            if exc.reason == "replayed":
                click.echo(f"{path.name}: already imported, skipped")
                continue
            click.echo(f"{path.name}: refused ({exc}); nothing of it was applied", err=True)
            sys.exit(1)
        except ExchangeSetupError as exc:
            raise click.ClickException(str(exc)) from None
        counts = ", ".join(f"{n} {kind}" for kind, n in imported.counts.items())
        click.echo(f"{path.name}: imported bundle {imported.sequence} ({counts})")
