"""The pages' translations: Chinese (`zh`, the default) and English (`en`, the msgids).

The catalogs are kept as reviewed `.po` text in `app/translations/<locale>/LC_MESSAGES/`;
the `.mo` files the pages load are built from them, never committed (`.gitignore`):
`make setup` and `make test` run `python -m app.i18n`, and the application builds any that is
missing or stale when it starts (`app.web.locale`), so a fresh checkout needs no manual step.
Building is idempotent: a `.mo` newer than its `.po` is left alone.

`python -m app.i18n --check` fails (exit 1) on a `.po` with a fuzzy or untranslated entry.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


def catalogs(root: Path = TRANSLATIONS) -> list[Path]:
    """Every `.po` of the domain under `root`."""
    return sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read(po: Path) -> Catalog:
    with po.open("rb") as handle:
        return read_po(handle, locale=po.parent.parent.name, domain=DOMAIN)


def problems(catalog: Catalog) -> list[str]:
    """The msgids of `catalog` that are fuzzy or have no translation."""
    found = []
    for message in catalog:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            found.append(str(message.id))
    return found


def compile_catalogs(root: Path = TRANSLATIONS, *, force: bool = False) -> list[Path]:
    """Build the `.mo` of every `.po` under `root` that is missing or older; the built ones."""
    built = []
    for po in catalogs(root):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = read(po)
        partial = mo.with_suffix(f".mo.{os.getpid()}.tmp")  # workers may build at once
        with partial.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        partial.replace(mo)
        built.append(mo)
    return built


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = {po: problems(read(po)) for po in catalogs()}
        for po, msgids in bad.items():
            for msgid in msgids:
                print(f"{po}: not translated: {msgid!r}", file=sys.stderr)
        if any(bad.values()):
            return 1
    for mo in compile_catalogs(force="--force" in argv):
        print(f"compiled {mo.relative_to(TRANSLATIONS.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
