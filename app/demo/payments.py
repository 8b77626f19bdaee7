"""A synthetic resident's payment behaviour: loans, credit cards, guarantees, overdue episodes,
utility bills and consumption payments.

Guarantees: each 24-month grid is consistent with its account: `/` before the opening month,
`*` in it, `C` in the settlement month, digits only inside the one overdue episode (escalating
1, 2, 3); every overdue episode is also a `B.overdue` record dated from the grid, ended when the
episode was repaid and open while it is not; every date is on or before `today`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.demo.life import Life, month_index, year_month
from policies.retention import add_months

_LOANS = (  # (kind, weight, principal range in thousand yuan, term range in months)
    ("mortgage", 25, (300, 1_500), (120, 360)),
    ("auto", 15, (50, 300), (24, 60)),
    ("consumer", 40, (5, 200), (6, 36)),
    ("business", 10, (50, 1_000), (12, 60)),
    ("student", 5, (8, 40), (60, 120)),
    ("other", 5, (10, 100), (12, 36)),
)
_LOAN_WEIGHTS = [w for _, w, _, _ in _LOANS]
_CARD_LIMITS = (5_000, 10_000, 20_000, 30_000, 50_000, 80_000, 100_000)
_UTILITIES = ("electricity", "water", "gas", "telecom", "property_management")
Episode = tuple[int, int, bool]  # (first overdue month index, months, repaid)


def _grid(
    life: Life, opened: int, report: int, closed: bool, idle: float, overdue: bool
) -> tuple[str, Episode | None]:
    rng = life.rng
    last = month_index(report)
    first, opened_month = last - 23, month_index(opened)
    cells = [
        "/" if m < opened_month else "*" if m == opened_month or rng.random() < idle else "N"
        for m in range(first, last + 1)
    ]
    if closed:
        cells[-1] = "C"
    active = [
        k
        for k, m in enumerate(range(first, last + 1))
        if m > opened_month and not (closed and k == 23)
    ]
    if not overdue or not active:
        return "".join(cells), None
    months = rng.choice((1, 1, 1, 2, 2, 3))
    repaid = closed or rng.random() < 0.75
    if repaid:
        start = rng.choice(active)
        span = [k for k in range(start, start + months) if k in active]
    else:
        span = active[-months:]
    for step, k in enumerate(span):
        cells[k] = str(step + 1)
    return "".join(cells), (first + span[0], len(span), repaid)


def _overdue(life: Life, bank: Any, kind: str, ref: str, monthly_due: int, ep: Episode) -> None:
    rng = life.rng
    year, month = divmod(ep[0], 12)
    occurred = min(life.t, date(year, month + 1, 15).toordinal())
    ended = min(life.t, occurred + ep[1] * 30 + rng.randint(0, 20)) if ep[2] else None
    days = ep[1] * 30 - rng.randint(0, 25) if ep[2] else life.t - occurred
    life.add(
        "B.overdue",
        bank,
        occurred,
        ended,
        {
            "creditor": bank.name,
            "account_kind": kind,
            "account_ref": ref,
            "overdue_amount_fen": monthly_due * ep[1],
            "max_days_overdue": min(3650, max(1, days)),
            "status": "repaid"
            if ep[2]
            else rng.choice(("outstanding", "outstanding", "written_off")),
        },
    )


def loans(life: Life) -> None:
    rng = life.rng
    if not life.chance(0.55 if 22 <= life.age <= 65 else 0.2):
        return
    for _ in range(1 + life.chance(0.35) + life.chance(0.1)):
        kind, _, (lo, hi), (shortest, longest) = rng.choices(_LOANS, _LOAN_WEIGHTS)[0]
        bank = rng.choice(life.w.providers["bank"])
        opened = life.between(max(life.adult, life.t - 15 * 365), life.t - 40)
        term = rng.randint(shortest, longest)
        principal = rng.randint(lo, hi) * 100_000
        installment = int(principal * (1 + 0.045 * term / 12) / term)
        maturity = add_months(date.fromordinal(opened), term).toordinal()
        settled = None
        if maturity <= life.t:
            settled = life.between(opened + 90, maturity) if life.chance(0.2) else maturity
        elif life.chance(0.15):
            settled = life.between(opened + 90, life.t)
        report = settled if settled is not None else life.w.last_month_end
        grid, episode = _grid(life, opened, report, settled is not None, 0.0, life.chance(0.04))
        elapsed = month_index(report) - month_index(opened)
        ref = life.account_ref("LN")
        life.add(
            "B.loan",
            bank,
            opened,
            settled,
            {
                "lender": bank.name,
                "account_ref": ref,
                "loan_kind": kind,
                "principal_fen": principal,
                "term_months": term,
                "maturity_date": date.fromordinal(maturity).isoformat(),
                "monthly_installment_fen": installment,
                "balance_fen": 0 if settled else int(principal * max(0.0, 1 - elapsed / term)),
                "status": "settled"
                if settled
                else "overdue"
                if episode and not episode[2]
                else "open",
                "report_month": year_month(report),
                "repayment_grid": grid,
            },
        )
        if episode:
            _overdue(life, bank, "loan", ref, installment, episode)
        if kind == "mortgage" and life.consent and life.chance(0.6):
            life.add(
                "C.tax_payment",
                "tax_bureau",
                opened,
                None,
                {
                    "tax_kind": "deed",
                    "tax_period": year_month(opened),
                    "status": "paid_on_time",
                    "amount_fen": principal * 3 // 100,
                },
            )


def cards(life: Life) -> None:
    rng = life.rng
    if life.age < 20 or not life.chance(0.6):
        return
    for _ in range(1 + life.chance(0.4) + life.chance(0.15)):
        bank = rng.choice(life.w.providers["bank"])
        opened = life.between(max(life.adult, life.t - 12 * 365), life.t - 60)
        closed = life.between(opened + 365, life.t - 1) if life.chance(0.15) else None
        report = closed if closed is not None else life.w.last_month_end
        limit = rng.choice(_CARD_LIMITS) * 100
        used = 0 if closed or life.chance(0.25) else rng.randint(0, limit)
        grid, episode = _grid(life, opened, report, closed is not None, 0.3, life.chance(0.04))
        ref = life.account_ref("CC")
        life.add(
            "B.credit_card",
            bank,
            opened,
            closed,
            {
                "issuer": bank.name,
                "account_ref": ref,
                "card_kind": "quasi_credit" if life.chance(0.05) else "credit",
                "credit_limit_fen": limit,
                "used_fen": used,
                "max_used_6m_fen": rng.randint(used, limit),
                "status": "closed"
                if closed
                else "overdue"
                if episode and not episode[2]
                else "active",
                "report_month": year_month(report),
                "repayment_grid": grid,
            },
        )
        if episode:
            _overdue(life, bank, "credit_card", ref, max(10_000, used // 10), episode)


def guarantee(life: Life) -> None:
    if life.age < 25 or not life.chance(0.06):
        return
    rng = life.rng
    bank = rng.choice(life.w.providers["bank"])
    given = life.between(life.adult, life.t - 30)
    expires = add_months(date.fromordinal(given), rng.choice((12, 24, 36, 60))).toordinal()
    amount = rng.randint(20, 500) * 100_000
    status = "active" if expires > life.t else "called" if life.chance(0.1) else "released"
    life.add(
        "B.guarantee",
        bank,
        given,
        None if status == "active" else min(expires, life.t),
        {
            "creditor": bank.name,
            "debtor_name": life.person_name(life.chance(0.5)),
            "guarantee_kind": rng.choice(life.w.values("B.guarantee", "guarantee_kind")),
            "guaranteed_amount_fen": amount,
            "outstanding_fen": rng.randint(0, amount) if status == "active" else 0,
            "expires_on": date.fromordinal(expires).isoformat(),
            "status": status,
        },
    )


def utilities(life: Life) -> None:
    rng = life.rng
    chosen = ["electricity"] + ([rng.choice(_UTILITIES[1:])] if life.chance(0.4) else [])
    for utility in chosen:
        provider = rng.choice(life.w.by_line[utility])
        grid, _ = _grid(life, life.moved_in, life.w.last_month_end, False, 0.0, False)
        arrears = grid[-3] == "N" and life.chance(0.04)
        if arrears:
            grid = grid[:22] + "12"
        life.add(
            "C.utility_payment",
            provider,
            life.moved_in,
            None,
            {
                "utility": utility,
                "account_ref": life.account_ref(utility[:2].upper()),
                "report_month": year_month(life.w.last_month_end),
                "payment_grid": grid,
                "arrears_fen": rng.randint(50, 2_000) * 100 if arrears else 0,
                "status": "in_arrears" if arrears else "normal",
            },
        )


def consumption(life: Life) -> None:
    if not life.chance(0.3):
        return
    rng = life.rng
    merchant = rng.choice(life.w.providers["merchant"])
    due = life.between(life.adult, life.t - 1)
    status = rng.choices(
        ("paid_on_time", "paid_late", "outstanding", "written_off"), (85, 10, 4, 1)
    )[0]
    late = rng.randint(1, 90) if status == "paid_late" else 0
    paid = min(life.t, due + late) if status.startswith("paid") else None
    payload: dict[str, Any] = {
        "merchant": merchant.name,
        "merchant_kind": merchant.line,
        "amount_fen": rng.randint(100, 20_000) * 100,
        "due_date": date.fromordinal(due).isoformat(),
        "status": status,
    }
    if status == "paid_late":
        payload["days_late"] = late
    life.add("C.consumption_payment", merchant, due, paid, payload)
