"""A synthetic resident's special records (category D): penalties, litigation, arbitration,
listings, evasion and fraud, and the positive administrative licences.

Guarantees: decisions lie between the subject's 18th birthday and `today`; an act that ended
has `ended_on` between its decision and `today`; an unperformed judgment may lead to a
dishonest-debtor listing, dated after the judgment, removed in some cases; case and decision
numbers follow the real Chongqing formats (e.g. （2021）渝0103民初1234号).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.demo import names
from app.demo.life import Life

YEAR = 365


def _year(day: int) -> int:
    return date.fromordinal(day).year


def _short(life: Life, region: str) -> str:
    return life.w.district_short.get(region, "渝")


def _ended(life: Life, start: int, lo: int, hi: int) -> int:
    return min(life.t, start + life.rng.randint(lo, hi))


def penalty(life: Life, *, serious: bool) -> None:
    rng = life.rng
    violation, kind = rng.choice(names.VIOLATIONS)
    authority = rng.choice(life.w.providers[kind])
    decided = life.between(max(life.adult, life.t - (6 if serious else 4) * YEAR), life.t - 10)
    penalty_kind = "fine"
    if violation == "酒后驾驶机动车":
        penalty_kind = rng.choice(("fine", "licence_suspension", "detention"))
    elif serious:
        penalty_kind = rng.choice(("fine", "confiscation", "licence_revocation"))
    abbr = "公" if kind == "public_security" else "市监"
    payload: dict[str, Any] = {
        "authority": authority.name,
        "authority_credit_code": authority.credit_code,
        "decision_number": (
            f"渝{_short(life, authority.region)}{abbr}罚〔{_year(decided)}〕"
            f"{rng.randint(1, 3000)}号"
        ),
        "violation": violation,
        "penalty_kind": penalty_kind,
    }
    if penalty_kind in ("fine", "confiscation"):
        payload["fine_fen"] = rng.randint(2, 500) * (100_000 if serious else 10_000)
    if life.chance(0.7):
        payload["facts"] = f"当事人于{date.fromordinal(decided - rng.randint(5, 60))}{violation}。"
    ended = _ended(life, decided, 5, 60) if life.chance(0.9) else None
    code = "D.penalty_serious" if serious else "D.penalty_general"
    life.add(code, authority, decided, ended, payload)


def civil_judgment(life: Life) -> None:
    rng = life.rng
    court = rng.choice(life.w.providers["court"])
    decided = life.between(max(life.adult, life.t - 9 * YEAR), life.t - 30)
    case = f"（{_year(decided)}）渝{court.region[2:]}民初{rng.randint(100, 9999)}号"
    performance = rng.choices(
        ("performed", "partially_performed", "not_performed", "enforced"), (55, 15, 15, 15)
    )[0]
    amount = rng.randint(1, 500) * 100_000
    ended = (
        _ended(life, decided, 15, 200)
        if performance == "performed"
        else _ended(life, decided, 90, 700)
        if performance == "enforced"
        else None
    )
    life.add(
        "D.civil_judgment",
        court,
        decided,
        ended,
        {
            "court": court.name,
            "case_number": case,
            "cause": rng.choices(
                (
                    "loan_dispute",
                    "credit_card_dispute",
                    "contract_dispute",
                    "lease_dispute",
                    "tort",
                    "labour_dispute",
                    "other",
                ),
                (35, 20, 20, 10, 8, 5, 2),
            )[0],
            "role": "defendant" if life.chance(0.9) else "third_party",
            "disposition": rng.choices(("judgment", "mediation", "ruling"), (60, 35, 5))[0],
            "amount_fen": amount,
            "performance": performance,
        },
    )
    if ended is None and life.chance(0.4):
        dishonest_debtor(life, court, decided, case, amount)


def dishonest_debtor(
    life: Life,
    court: Any = None,
    judged: int | None = None,
    basis: str | None = None,
    amount: int | None = None,
) -> None:
    rng = life.rng
    court = court or rng.choice(life.w.providers["court"])
    judged = judged if judged is not None else life.between(life.adult, life.t - 400)
    listed = life.between(judged + 180, life.t - 1)
    removed = life.between(listed + 90, life.t - 1) if life.chance(0.4) else None
    payload: dict[str, Any] = {
        "court": court.name,
        "case_number": f"（{_year(listed)}）渝{court.region[2:]}执{rng.randint(100, 9999)}号",
        "basis_document": basis
        or f"（{_year(judged)}）渝{court.region[2:]}民初{rng.randint(100, 9999)}号",
        "dishonesty_kind": rng.choice(life.w.values("D.dishonest_debtor", "dishonesty_kind")),
        "performance": rng.choice(("not_performed", "partially_performed")),
    }
    if amount is not None:
        payload["amount_fen"] = amount
    life.add("D.dishonest_debtor", court, listed, removed, payload)


def labour_arbitration(life: Life) -> None:
    rng = life.rng
    commission = rng.choice(life.w.providers["labour_arbitration"])
    decided = life.between(max(life.adult, life.t - 8 * YEAR), life.t - 30)
    respondent = life.chance(0.7)
    performed = life.chance(0.7)
    payload: dict[str, Any] = {
        "commission": commission.name,
        "case_number": f"渝{_short(life, commission.region)}劳人仲案字〔{_year(decided)}〕"
        f"第{rng.randint(1, 2000)}号",
        "role": "respondent" if respondent else "applicant",
        "dispute_kind": rng.choice(life.w.values("D.labour_arbitration", "dispute_kind")),
        "performed": performed,
    }
    if respondent:
        payload["award_fen"] = rng.randint(5, 300) * 100_000
    life.add(
        "D.labour_arbitration",
        commission,
        decided,
        _ended(life, decided, 20, 200) if performed else None,
        payload,
    )


def criminal_judgment(life: Life) -> None:
    rng = life.rng
    court = rng.choice(life.w.providers["court"])
    decided = life.between(max(life.adult, life.t - 12 * YEAR), life.t - 60)
    sentence = rng.choices(
        (
            "fine_only",
            "public_surveillance",
            "criminal_detention",
            "fixed_term",
            "suspended",
            "exempted",
        ),
        (15, 5, 15, 40, 22, 3),
    )[0]
    months = {
        "fine_only": 0,
        "exempted": 0,
        "criminal_detention": rng.randint(1, 6),
        "public_surveillance": rng.randint(3, 24),
    }.get(sentence, rng.randint(6, 120))
    end = decided + max(30, months * 30)
    payload: dict[str, Any] = {
        "court": court.name,
        "case_number": f"（{_year(decided)}）渝{court.region[2:]}刑初{rng.randint(1, 999)}号",
        "offence": rng.choice(life.w.values("D.criminal_judgment", "offence")),
        "sentence": sentence,
    }
    if months:
        payload["sentence_months"] = months
    if sentence == "fine_only" or life.chance(0.5):
        payload["fine_fen"] = rng.randint(1, 200) * 100_000
    life.add("D.criminal_judgment", court, decided, end if end <= life.t else None, payload)


def tax_evasion(life: Life) -> None:
    rng = life.rng
    bureau = rng.choice(life.w.providers["tax_bureau"])
    decided = life.between(max(life.adult, life.t - 8 * YEAR), life.t - 30)
    settled = life.chance(0.7)
    evaded = rng.randint(1, 500) * 100_000
    life.add(
        "D.tax_evasion",
        bureau,
        decided,
        _ended(life, decided, 30, 365) if settled else None,
        {
            "tax_authority": bureau.name,
            "decision_number": f"渝{_short(life, bureau.region)}税稽罚〔{_year(decided)}〕"
            f"{rng.randint(1, 500)}号",
            "tax_kind": rng.choice(("individual_income", "deed", "land_value_added", "stamp")),
            "evaded_fen": evaded,
            "surcharge_fen": evaded // 2,
            "settled": settled,
        },
    )


def debt_evasion(life: Life) -> None:
    rng = life.rng
    bank = rng.choice(life.w.providers["bank"])
    found = life.between(max(life.adult, life.t - 8 * YEAR), life.t - 30)
    status = rng.choices(("outstanding", "recovered", "written_off"), (50, 30, 20))[0]
    life.add(
        "D.debt_evasion",
        bank,
        found,
        None if status == "outstanding" else _ended(life, found, 60, 900),
        {
            "creditor": bank.name,
            "creditor_credit_code": bank.credit_code,
            "evasion_kind": rng.choice(life.w.values("D.debt_evasion", "evasion_kind")),
            "evaded_fen": rng.randint(10, 2_000) * 100_000,
            "status": status,
        },
    )


def insurance_fraud(life: Life) -> None:
    rng = life.rng
    scheme = rng.choice(life.w.values("D.insurance_fraud", "scheme"))
    agency = rng.choice(
        life.w.providers["insurer" if scheme == "commercial" else "social_insurance"]
    )
    found = life.between(max(life.adult, life.t - 8 * YEAR), life.t - 30)
    recovered = life.chance(0.6)
    life.add(
        "D.insurance_fraud",
        agency,
        found,
        _ended(life, found, 30, 500) if recovered else None,
        {
            "agency": agency.name,
            "scheme": scheme,
            "fraud_kind": rng.choice(life.w.values("D.insurance_fraud", "fraud_kind")),
            "obtained_fen": rng.randint(1, 300) * 100_000,
            "recovered": recovered,
        },
    )


def admin_licence(life: Life) -> None:
    rng = life.rng
    authority = rng.choice(life.w.providers["market_regulator"])
    licence, prefix, kind = rng.choice(names.LICENCES)
    granted = life.between(max(life.adult, life.t - 10 * YEAR), life.t - 1)
    valid_until = granted + 5 * YEAR
    life.add(
        "D.admin_licensing",
        authority,
        granted,
        valid_until if valid_until <= life.t else None,
        {
            "authority": authority.name,
            "authority_credit_code": authority.credit_code,
            "licence": licence,
            "licence_kind": kind,
            "licence_number": f"{prefix}{authority.region}{rng.randrange(10**8):08d}",
            "valid_until": date.fromordinal(valid_until).isoformat(),
        },
    )


def special_records(life: Life) -> None:
    """Draws each kind of special record with its own base rate (about 1 in 8 people get any)."""
    if life.chance(0.055):
        penalty(life, serious=False)
    if life.chance(0.012):
        penalty(life, serious=True)
    if life.chance(0.035):
        civil_judgment(life)
    if life.chance(0.003):
        dishonest_debtor(life)
    if life.chance(0.015):
        labour_arbitration(life)
    if life.chance(0.004):
        criminal_judgment(life)
    if life.chance(0.005):
        tax_evasion(life)
    if life.chance(0.005):
        debt_evasion(life)
    if life.chance(0.005):
        insurance_fraud(life)
    if life.chance(0.05):
        admin_licence(life)
