"""The catalog refuses prohibited collection (religion, genes, fingerprints, blood type, disease
and medical history) and consent-bound fields (income, deposits, …) without declared consent."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.catalog import Catalog, parse_catalog
from tests.policies.catalog_texts import HEAD, loan, refused

# -- prohibited collection and consent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "concept"),
    [
        ({"name": "religion"}, "religion"),
        ({"name": "religious_affiliation", "type": "string"}, "religion"),
        ({"name": "gene_marker", "type": "string"}, "genes"),
        ({"name": "fingerprint_hash", "type": "string"}, "fingerprints"),
        ({"name": "blood_type", "type": "string"}, "blood type"),
        ({"name": "chronic_disease", "type": "boolean"}, "disease"),
        ({"name": "diseased_since", "type": "date"}, "disease"),
        ({"name": "health_condition", "type": "string"}, "disease"),
        ({"name": "medical_history", "type": "text"}, "medical history"),
        ({"extra": 'concept = "genetic"'}, "genes"),
        ({"title": "Blood group"}, "blood type"),
        ({"extra": 'title_zh = "血型"'}, "blood type"),
        ({"extra": 'title_zh = "既往病史"'}, "medical history"),
        ({"extra": 'title_zh = "宗教信仰"'}, "religion"),
        ({"extra": 'title_zh = "指纹"'}, "fingerprints"),
        ({"extra": 'title_zh = "基因检测"'}, "genes"),
        ({"extra": 'title_zh = "疾病"'}, "disease"),
    ],
)
def test_prohibited_fields_are_refused(tmp_path: Path, args: dict[str, str], concept: str) -> None:
    message = refused(tmp_path, HEAD + loan(**args))
    assert f"collecting {concept} is prohibited" in message
    assert "prohibited-collection rule" in message
    assert f"field '{args.get('name', 'rate')}'" in message


def test_prohibited_record_types_are_refused(tmp_path: Path) -> None:
    text = HEAD + loan().replace("B.loan", "B.genetic_risk").replace(
        'title = "Loan"', 'title = "X"'
    )
    assert "prohibited-collection rule" in refused(tmp_path, text)


def test_word_boundaries_do_not_overreach() -> None:
    # Matching is by whole words: "general" is not "gene", "bloodline" is not "blood type".
    for name in ("general_ledger", "genesis_id", "medical_insurance_months", "bloodline"):
        assert parse_catalog(HEAD + loan(name=name), source="x").require("B.loan").has_field(name)


@pytest.mark.parametrize(
    ("args", "concept"),
    [
        ({"name": "monthly_income_fen", "type": "money_fen"}, "income"),
        ({"name": "salary_fen", "type": "money_fen"}, "income"),
        ({"name": "deposits_fen", "type": "money_fen"}, "deposits"),
        ({"name": "securities_value_fen", "type": "money_fen"}, "securities"),
        ({"name": "insured_amount_fen", "type": "money_fen"}, "insurance"),
        ({"name": "real_estate_count"}, "real estate"),
        ({"name": "tax_amount_fen", "type": "money_fen"}, "tax amounts"),
        ({"extra": 'concept = "deposit"'}, "deposits"),
        ({"extra": 'title_zh = "月收入"'}, "income"),
    ],
)
def test_consent_bound_fields_must_declare_consent(
    tmp_path: Path, args: dict[str, str], concept: str
) -> None:
    message = refused(tmp_path, HEAD + loan(**args))
    assert f"has {concept} semantics and must declare consent_required = true" in message
    accepted = dict(args, extra=args.get("extra", "") + "\nconsent_required = true")
    catalog: Catalog = parse_catalog(HEAD + loan(**accepted), source="x")
    assert catalog.require("B.loan").field(args.get("name", "rate")).consent_required
