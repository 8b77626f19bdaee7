"""One synthetic resident's life as credit records: the world every life draws on, the record
plumbing, and the identity records (category A: identity, residence, schooling, family). Work is
in `app.demo.work`, money in `app.demo.payments`, special records in `app.demo.special_records`.

Guarantees (relied on by `app.demo.generator` and the modules above): every record occurs and ends
on or before `today`, and after the subject's 18th birthday except identity (issued at 16) and
schooling; ends never precede starts; payloads use only declared fields and enum values;
consent-bound fields appear only when the subject consented; all randomness comes from the
subject's own `rng`. `PROVIDER_KINDS` is derived from `ProviderKind`, the one list of kinds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from app.demo import names
from policies.catalog import Catalog
from policies.retention import add_years

if TYPE_CHECKING:
    from app.demo.generator import SyntheticProvider

RecordTuple = tuple[str, str, date, date | None, dict[str, Any]]

RECORD_TYPES = (
    "A.identity",
    "A.residence",
    "A.education",
    "A.marital_status",
    "A.family_member",
    "B.loan",
    "B.credit_card",
    "B.guarantee",
    "B.overdue",
    "C.employment",
    "C.job_change",
    "C.labour_contract",
    "C.social_insurance",
    "C.tax_payment",
    "C.utility_payment",
    "C.consumption_payment",
    "D.labour_arbitration",
    "D.civil_judgment",
    "D.criminal_judgment",
    "D.penalty_general",
    "D.penalty_serious",
    "D.admin_licensing",
    "D.tax_evasion",
    "D.debt_evasion",
    "D.insurance_fraud",
    "D.dishonest_debtor",
)
ProviderKind = Literal[
    "bank",
    "insurer",
    "employer",
    "court",
    "labour_arbitration",
    "tax_bureau",
    "social_insurance",
    "utility",
    "merchant",
    "market_regulator",
    "public_security",
    "civil_affairs",
    "education",
]
PROVIDER_KINDS: tuple[ProviderKind, ...] = get_args(ProviderKind)
_EDUCATION = (  # (level, weight, age at graduation)
    ("primary", 4, 12),
    ("junior_secondary", 18, 15),
    ("senior_secondary", 20, 18),
    ("vocational_secondary", 10, 18),
    ("associate", 18, 21),
    ("bachelor", 22, 22),
    ("master", 6, 25),
    ("doctorate", 2, 28),
)


def year_month(day: int) -> str:
    """`YYYY-MM` of the month holding ordinal `day`."""
    d = date.fromordinal(day)
    return f"{d.year:04d}-{d.month:02d}"


def month_index(day: int) -> int:
    """Months since year 0 of the month holding ordinal `day`."""
    d = date.fromordinal(day)
    return d.year * 12 + d.month - 1


class World:
    """What every life draws on: the catalog's vocabulary and the providers, checked once."""

    def __init__(
        self, catalog: Catalog, providers: Mapping[str, Sequence[SyntheticProvider]], today: date
    ) -> None:
        missing = [code for code in RECORD_TYPES if catalog.get(code) is None]
        if missing:
            raise ValueError(f"the catalog lacks record types the generator makes: {missing}")
        absent = [kind for kind in PROVIDER_KINDS if not providers.get(kind)]
        if absent:
            raise ValueError(f"no providers of kinds: {absent}")
        self.catalog = catalog
        self.providers = providers
        self.today = today.toordinal()
        self.last_month_end = (today.replace(day=1) - timedelta(days=1)).toordinal()
        self.district_short = {
            code: name[:2] if "自治" in name else name.rstrip("区县")
            for code, name in names.CHONGQING_DISTRICTS
        }
        self.by_line: dict[str, list[SyntheticProvider]] = {}
        for kind in ("utility", "merchant"):
            for p in providers[kind]:
                self.by_line.setdefault(p.line, []).append(p)

    def values(self, code: str, field: str) -> tuple[str, ...]:
        return self.catalog.require(code).field(field).values


class Life:
    """Builds one subject's records into `records`."""

    def __init__(
        self, world: World, rng: random.Random, *, born: date, male: bool, consent: bool
    ) -> None:
        self.w, self.rng, self.male, self.consent = world, rng, male, consent
        self.t = world.today
        self.born = born
        self.adult = add_years(born, 18).toordinal()
        self.age = (self.t - born.toordinal()) // 365
        self.year = date.fromordinal(self.t).year
        self.records: list[RecordTuple] = []
        self.moved_in = self.adult  # set by `identity`: the day the current residence began

    # -- plumbing -------------------------------------------------------------------------------

    def add(
        self,
        code: str,
        source: str | SyntheticProvider,
        occurred: int,
        ended: int | None,
        payload: dict[str, Any],
    ) -> None:
        provider = self.rng.choice(self.w.providers[source]) if isinstance(source, str) else source
        self.records.append(
            (
                code,
                provider.credit_code,
                date.fromordinal(occurred),
                None if ended is None else date.fromordinal(ended),
                payload,
            )
        )

    def between(self, lo: int, hi: int) -> int:
        """A day in [lo, hi] (hi when the window is empty), never after today."""
        hi = min(hi, self.t)
        return hi if hi <= lo else self.rng.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def person_name(self, male: bool, surname: str | None = None) -> str:
        rng = self.rng
        family = surname or rng.choice(names.SURNAMES)[0]
        pool = names.GIVEN_MALE if male else names.GIVEN_FEMALE
        return family + rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.6 else "")

    def address(self, place: str, chongqing: bool) -> str:
        rng = self.rng
        street = rng.choice(names.STREETS) if chongqing else "人民路"
        prefix = f"重庆市{place}" if chongqing else place
        return f"{prefix}{street}{rng.randint(1, 400)}号{rng.randint(1, 30)}-{rng.randint(1, 8)}"

    def account_ref(self, prefix: str) -> str:
        return f"{prefix}{self.rng.randrange(10**14):014d}"

    # -- A: identity, residence, education, family ----------------------------------------------

    def identity(self, name: str, id_number: str, region: str, place: str) -> None:
        chongqing = region.startswith("50")
        self.add(
            "A.identity",
            "public_security",
            min(self.t, add_years(self.born, 16).toordinal()),
            None,
            {
                "name": name,
                "sex": "M" if self.male else "F",
                "birth_date": self.born.isoformat(),
                "id_number": id_number,
                "household_address": self.address(place, chongqing),
            },
        )
        self.moved_in = self.between(self.adult, self.t - 30)
        moves = [self.moved_in]
        if self.chance(0.2):
            moves.insert(0, self.between(self.adult, self.moved_in - 1))
        for i, start in enumerate(moves):
            code, district = (
                (region, place)
                if chongqing and self.chance(0.7)
                else self.rng.choice(names.CHONGQING_DISTRICTS)
            )
            payload: dict[str, Any] = {"address": self.address(district, True), "region_code": code}
            if self.consent and self.chance(0.8):
                payload["residence_kind"] = self.rng.choice(
                    self.w.values("A.residence", "residence_kind")
                )
            ended = moves[i + 1] if i + 1 < len(moves) else None
            self.add("A.residence", "public_security", start, ended, payload)

    def education(self, place: str, chongqing: bool) -> int:
        """Adds the highest education; returns the day working life may start."""
        if not self.chance(0.92):
            return self.adult
        rng = self.rng
        level_index = rng.choices(range(len(_EDUCATION)), [w for _, w, _ in _EDUCATION])[0]
        while (
            graduated := date(self.born.year + _EDUCATION[level_index][2], 7, 1).toordinal()
        ) > self.t:
            level_index -= 1
        level = _EDUCATION[level_index][0]
        school = rng.choice(names.SCHOOLS[level])
        if school.startswith("区"):
            school = (f"重庆市{place}" if chongqing else place) + school[1:]
        payload: dict[str, Any] = {
            "level": level,
            "school": school,
            "graduated": year_month(graduated),
        }
        if level_index >= 4 and self.chance(0.9):
            payload["major"] = rng.choice(names.MAJORS)
        self.add("A.education", "education", graduated, None, payload)
        return max(self.adult, graduated + rng.randint(30, 240))

    def family(self, surname: str) -> None:
        rng, age = self.rng, self.age
        r = rng.random()
        if age < 22 or (age < 30 and r < 0.5) or (age >= 30 and r < 0.12):
            self.add("A.marital_status", "civil_affairs", self.adult, None, {"status": "unmarried"})
            return
        married = self.between(add_years(self.born, 22).toordinal(), self.t - 60)
        spouse = self.person_name(not self.male)
        status = "married"
        if age >= 30 and r > 0.92:
            status = "widowed" if age > 60 and r > 0.97 else "divorced"
        changed = married if status == "married" else self.between(married + 365, self.t - 1)
        payload: dict[str, Any] = {"status": status}
        if status == "married":
            payload["spouse_name"] = spouse
            self.add(
                "A.family_member",
                "civil_affairs",
                married,
                None,
                {
                    "relation": "spouse",
                    "name": spouse,
                    "birth_year": min(self.born.year + rng.randint(-4, 4), self.year),
                },
            )
        self.add("A.marital_status", "civil_affairs", changed, None, payload)
        last_child = min(self.t - 1, add_years(self.born, 45).toordinal())
        for _ in range(rng.choices((0, 1, 2), (45, 45, 10))[0] if married < last_child else 0):
            child_born = self.between(married + 300, last_child)
            self.add(
                "A.family_member",
                "public_security",
                child_born,
                None,
                {
                    "relation": "child",
                    "name": self.person_name(self.chance(0.5), surname),
                    "birth_year": date.fromordinal(child_born).year,
                },
            )
