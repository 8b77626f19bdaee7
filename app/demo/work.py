"""A synthetic resident's working life (category C): jobs, labour contracts, job changes,
social insurance and income tax.

Guarantees (relied on by `app.demo.generator`): jobs are consecutive and start on or after the
day passed to `work`; a job ends on or before `today` and never after the retirement age (60
for men, 55 for women); a job that ended has a `C.job_change` record dated on its last day;
contributions run from the first job to the last; consent-bound amounts (wage, tax, contribution
base) appear only when the subject consented; all randomness comes from the subject's own `rng`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.demo import names
from app.demo.life import Life, year_month
from policies.retention import add_years

if TYPE_CHECKING:
    from app.demo.generator import SyntheticProvider

Job = tuple["SyntheticProvider", int, int | None]  # (employer, first day, last day or None)

_LEAVING = (
    "resignation",
    "contract_expiry",
    "dismissal",
    "mutual_agreement",
    "transfer",
    "employer_closure",
)
_CONTRACT_END = {
    "resignation": "ended_by_employee",
    "contract_expiry": "completed",
    "dismissal": "ended_by_employer",
    "mutual_agreement": "ended_by_agreement",
    "transfer": "completed",
    "retirement": "completed",
    "employer_closure": "ended_by_employer",
}


def _career(life: Life, start: int, retire: int) -> list[Job]:
    """1-3 consecutive jobs from `start`: (employer, first day, last day or None if current)."""
    rng = life.rng
    jobs: list[Job] = []
    begin = start + rng.randint(0, 240)
    count = 1 + life.chance(0.45) + life.chance(0.2)
    for j in range(count):
        if begin >= min(life.t, retire):
            break
        end: int | None = begin + rng.randint(300, 4500)
        if j == count - 1 and life.chance(0.85):  # the last job is usually the current one
            end = None
        if end is not None and end >= min(life.t, retire):
            end = None
        if end is None and retire <= life.t:  # past retirement age: the last job has ended
            end = retire
        jobs.append((rng.choice(life.w.providers["employer"]), begin, end))
        if end is None or end == retire:
            break
        begin = end + rng.randint(1, 150)
    return jobs


def work(life: Life, start: int) -> None:
    """Jobs, contracts, job changes, social insurance and income tax from `start` on."""
    retire = add_years(life.born, 60 if life.male else 55).toordinal()
    if start >= min(life.t, retire) or not life.chance(0.88):
        return
    jobs = _career(life, start, retire)
    if not jobs:
        return
    rng = life.rng
    for j, (employer, begin, end) in enumerate(jobs):
        employed: dict[str, Any] = {
            "employer": employer.name,
            "employer_credit_code": employer.credit_code,
            "employer_kind": employer.line,
        }
        if life.chance(0.8):
            employed["position"] = rng.choice(names.POSITIONS)
        if life.consent and life.chance(0.8):
            employed["monthly_wage_fen"] = rng.randint(2_500, 25_000) * 100
        life.add("C.employment", "social_insurance", begin, end, employed)
        reason = None
        if end is not None:
            reason = "retirement" if end == retire else rng.choice(_LEAVING)
            change: dict[str, Any] = {"previous_employer": employer.name, "reason": reason}
            if j + 1 < len(jobs):
                change["new_employer"] = jobs[j + 1][0].name
            life.add("C.job_change", "social_insurance", end, None, change)
        if employer.line != "individual_business" and life.chance(0.6):
            kind = rng.choices(("fixed_term", "open_ended", "task_based"), (70, 25, 5))[0]
            performance = "in_force" if reason is None else _CONTRACT_END[reason]
            if reason is not None and life.chance(0.05):
                performance = rng.choice(("breached_by_employee", "breached_by_employer"))
            contract: dict[str, Any] = {
                "employer": employer.name,
                "employer_credit_code": employer.credit_code,
                "contract_kind": kind,
                "performance": performance,
            }
            if kind == "fixed_term":
                contract["term_months"] = rng.choice((12, 24, 36, 60))
            life.add("C.labour_contract", "social_insurance", begin, end, contract)
    _social_insurance(life, jobs, retire)
    if jobs[-1][2] is None and life.chance(0.7):
        period = life.w.last_month_end
        tax: dict[str, Any] = {
            "tax_kind": "individual_income",
            "tax_period": year_month(period),
            "status": rng.choices(("paid_on_time", "paid_late", "in_arrears"), (95, 4, 1))[0],
        }
        if life.consent:
            tax["amount_fen"] = rng.randint(0, 5_000) * 100
        life.add("C.tax_payment", "tax_bureau", min(life.t, period + 15), None, tax)


def _social_insurance(life: Life, jobs: list[Job], retire: int) -> None:
    """Pension always, medical and unemployment insurance often, over the whole career."""
    last_employer, first_day, last_end = jobs[-1][0], jobs[0][1], jobs[-1][2]
    retired = last_end == retire
    status = "terminated" if retired else "suspended" if last_end is not None else "contributing"
    paid_until = last_end if last_end is not None else life.w.last_month_end
    months = max(1, min(960, (paid_until - first_day) * 9 // 300))
    schemes = ["pension"] + [
        scheme for scheme, p in (("medical", 0.6), ("unemployment", 0.25)) if life.chance(p)
    ]
    for scheme in schemes:
        payload: dict[str, Any] = {
            "insurance_kind": scheme,
            "months_contributed": months,
            "last_paid_month": year_month(paid_until),
            "status": "in_arrears" if status == "contributing" and life.chance(0.02) else status,
            "paid_through": "employer",
            "employer_credit_code": last_employer.credit_code,
        }
        if last_employer.line == "individual_business":
            payload["paid_through"] = "individual"
            del payload["employer_credit_code"]
        if life.consent:
            payload["contribution_base_fen"] = life.rng.randint(3_500, 30_000) * 100
        ended = last_end if retired else None
        life.add("C.social_insurance", "social_insurance", first_day, ended, payload)
