"""A bundle on the transfer device: one directory `cg-bundle-<from>-to-<to>-<NNNNNN>` holding
`manifest.json`, `manifest.sig` (raw r||s, 64 bytes) and `items/NNNNNN` (docs/exchange.md).

Guarantees: a bundle is written under `<name>.partial`, every file flushed to disk, and renamed
to its name only when whole (`finish`), so a reader never takes a half-written bundle for one;
`read_bundle` refuses (`incomplete`) a directory still named `.partial`, a missing manifest,
signature or item, and an item of another size than the manifest says, reading nothing else.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from crypto.bundle import BundleRefused, Manifest, parse_manifest

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PARTIAL = ".partial"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def bundle_name(sender: str, receiver: str, sequence: int) -> str:
    return f"cg-bundle-{sender}-to-{receiver}-{sequence:06d}"


def write_partial(
    target: Path, name: str, manifest: bytes, signature: bytes, items: dict[str, bytes]
) -> Path:
    """Write the bundle under `target/<name>.partial`; returns that path."""
    partial = target / (name + PARTIAL)
    if (target / name).exists() or partial.exists():
        raise FileExistsError(f"{target / name} exists already")
    (partial / "items").mkdir(parents=True)
    for item_name, blob in items.items():
        _write(partial / item_name, blob)
    _write(partial / MANIFEST, manifest)
    _write(partial / SIGNATURE, signature)
    _sync_dir(partial / "items")
    _sync_dir(partial)
    return partial


def finish(partial: Path) -> Path:
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    partial.rename(final)
    _sync_dir(final.parent)
    return final


def discard(partial: Path) -> None:
    shutil.rmtree(partial, ignore_errors=True)


@dataclass(frozen=True)
class BundleOnDisk:
    path: Path
    manifest_bytes: bytes
    manifest: Manifest
    signature: bytes

    def item(self, name: str) -> bytes:
        return (self.path / name).read_bytes()


def read_bundle(path: Path) -> BundleOnDisk:
    """The bundle at `path`, its manifest parsed but nothing verified beyond completeness."""
    if path.name.endswith(PARTIAL):
        raise BundleRefused("incomplete", f"{path.name} was not finished writing")
    manifest_path, signature_path = path / MANIFEST, path / SIGNATURE
    for needed in (manifest_path, signature_path):
        if not needed.is_file():
            raise BundleRefused("incomplete", f"{path.name} has no {needed.name}")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleRefused("malformed", "the manifest is too large")
    raw = manifest_path.read_bytes()
    manifest = parse_manifest(raw)
    listed = {item.name for item in manifest.items}
    for item in manifest.items:
        item_path = path / item.name
        if not item_path.is_file():
            raise BundleRefused("incomplete", f"{path.name} lacks {item.name}")
        if item_path.stat().st_size != item.size:
            raise BundleRefused(
                "incomplete", f"{item.name} has {item_path.stat().st_size} of {item.size} bytes"
            )
    items_dir = path / "items"
    present = {f"items/{p.name}" for p in items_dir.iterdir()} if items_dir.is_dir() else set()
    if present - listed:
        raise BundleRefused("malformed", f"{path.name} holds items its manifest does not list")
    return BundleOnDisk(path, raw, manifest, signature_path.read_bytes())


def _write(path: Path, blob: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
