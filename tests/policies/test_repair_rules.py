"""The credit repair rules as data: the packaged file loads and fits the catalog, a broken
file is refused naming the key, evidence is judged by its bytes, and the minimum display
period holds on the day before, on and after each boundary."""

from __future__ import annotations

from datetime import date

import pytest

from policies.catalog import default_catalog
from policies.repair import (
    JPEG,
    PDF,
    PNG,
    BadEvidence,
    RepairError,
    check_catalog,
    default_repair,
    parse_repair,
    sniff,
)
from policies.retention import display_until

PDF_BYTES = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9"

GOOD = """
schema = 1
[application]
explanation_max_chars = 100
reason_max_chars = 100
[evidence]
media_types = ["application/pdf", "image/png"]
max_file_bytes = 1000
max_files = 2
[[eligible]]
record_type = "D.penalty_general"
min_display_months = 3
source = "test"
"""


def test_the_packaged_rules_fit_the_catalog() -> None:
    rules = check_catalog(default_repair(), default_catalog())
    assert rules.rule_for("D.penalty_general") is not None
    assert rules.rule_for("D.penalty_serious") is not None
    assert rules.rule_for("D.civil_judgment") is None  # 5-year negative information: no window
    assert rules.rule_for("D.dishonest_debtor") is None  # ended by the court that listed it
    assert set(rules.media_types) == {PDF, PNG, JPEG}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("schema = 1", "schema = 2"), "schema"),
        (("max_files = 2", "max_files = 0"), "max_files"),
        (("max_files = 2", "max_files = 2\ncolour = 1"), "colour"),
        (('"image/png"]', '"image/gif"]'), "media_types"),
        (("min_display_months = 3", "min_display_months = 0"), "min_display_months"),
        (("explanation_max_chars = 100", 'explanation_max_chars = "100"'), "explanation_max"),
    ],
)
def test_a_broken_file_is_refused_naming_the_key(change: tuple[str, str], named: str) -> None:
    with pytest.raises(RepairError, match=named):
        parse_repair(GOOD.replace(*change), source="repair.toml")


@pytest.mark.parametrize(
    ("record_type", "months", "why"),
    [
        ("D.nothing", 3, "not a record type"),
        ("D.civil_judgment", 3, "display window"),
        ("B.loan", 3, "display window"),
        ("D.penalty_general", 2, "within the catalog's window"),  # laxer than the catalog
        ("D.penalty_general", 13, "within the catalog's window"),  # beyond the maximum
    ],
)
def test_rules_that_do_not_fit_the_catalog_are_refused(
    record_type: str, months: int, why: str
) -> None:
    text = GOOD.replace('"D.penalty_general"', f'"{record_type}"').replace(
        "min_display_months = 3", f"min_display_months = {months}"
    )
    with pytest.raises(RepairError, match=why):
        check_catalog(parse_repair(text, source="repair.toml"), default_catalog())


def test_files_are_judged_by_their_bytes_not_by_their_claim() -> None:
    assert (sniff(PDF_BYTES), sniff(PNG_BYTES), sniff(JPEG_BYTES)) == (PDF, PNG, JPEG)
    assert sniff(b"%PDF-1.7 cut short") is None  # a PDF without its end is not a PDF
    assert sniff(b"MZ\x90\x00 an executable") is None
    rules = parse_repair(GOOD, source="repair.toml")
    assert rules.check_evidence(1, "application/pdf", PDF_BYTES) == PDF
    assert rules.check_evidence(1, None, PNG_BYTES) == PNG  # no claim: the bytes decide
    with pytest.raises(BadEvidence) as mismatch:
        rules.check_evidence(2, "image/png", PDF_BYTES)
    assert mismatch.value.code == "evidence_mismatch"
    assert "2" in str(mismatch.value)
    with pytest.raises(BadEvidence) as foreign:
        rules.check_evidence(1, "image/jpeg", JPEG_BYTES)  # JPEG is not allowed by this file
    assert foreign.value.code == "evidence_type"
    with pytest.raises(BadEvidence) as renamed:
        rules.check_evidence(1, "application/pdf", b"<html>not a pdf</html>")
    assert renamed.value.code == "evidence_type"
    with pytest.raises(BadEvidence) as large:
        rules.check_evidence(1, "application/pdf", PDF_BYTES + b" " * 1000)
    assert large.value.code == "evidence_too_large"


#: (record type, decision day, the first day an application is accepted)
WINDOWS = [
    ("D.penalty_general", date(2025, 3, 10), date(2025, 6, 10)),
    ("D.penalty_general", date(2024, 11, 30), date(2025, 2, 28)),  # no 30 February
    ("D.penalty_serious", date(2024, 1, 31), date(2024, 7, 31)),
    ("D.penalty_serious", date(2023, 8, 31), date(2024, 2, 29)),  # leap year
]
ONE_DAY = date(2000, 1, 2) - date(2000, 1, 1)


@pytest.mark.parametrize(("code", "decided", "opens"), WINDOWS)
def test_repair_never_ends_a_display_before_its_minimum_period(
    code: str, decided: date, opens: date
) -> None:
    eligible = default_repair().rule_for(code)
    assert eligible is not None
    assert eligible.eligible_from(decided) == opens
    rule = default_catalog().record_types[code].retention
    # approved before the minimum period ends (the day before, and long before): hidden only
    # from the boundary on; approved on it or after it: hidden from the approval day
    for approved, hidden in (
        (decided, opens),
        (opens - ONE_DAY, opens),
        (opens, opens),
        (opens + ONE_DAY, opens + ONE_DAY),
    ):
        assert eligible.hidden_from(approved_on=approved, occurred_on=decided) == hidden
        last = display_until(rule, occurred_on=decided, ended_on=decided, repaired_on=hidden)
        assert last == hidden - ONE_DAY
