"""Deterministic synthetic demo data: data providers and credit subjects with their records.

Guarantees:
- Determinism: `generate_providers(seed)` depends on `seed` only; subject `i` of
  `generate_subjects` depends only on (seed, i, today, providers, catalog), so a run can be
  resumed or split into batches (`start=`) and yields exactly the subjects a full run would.
- Laziness: subjects are built one at a time on demand; memory does not grow with `n`.
- Validity: every ID number passes GB 11643 and agrees with the subject's birth date and sex;
  ID numbers are unique within a run (the index is mapped bijectively onto region, birth date
  and sequence); provider credit codes pass GB 32100 and are unique; every payload passes
  `validate_payload(..., consent_recorded=subject.written_consent, today=today)`; consent-bound
  fields appear only for subjects with written consent; no date lies after `today`.
- Realism: records of all four categories; about a fifth of subjects carry negative
  information, some of it past its display period relative to `today`.
The organisations are fictional (see `app.demo.names`); the codes are valid in form only.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.demo import names, payments
from app.demo.life import Life, ProviderKind, World
from app.demo.special_records import special_records
from app.demo.work import work
from policies.catalog import Catalog
from policies.identifiers import make_citizen_id, make_credit_code
from policies.retention import add_years


@dataclass(frozen=True, slots=True)
class SyntheticProvider:
    """A data provider; `line` is its line of business (employer kind, utility, merchant kind)."""

    credit_code: str
    name: str
    kind: ProviderKind
    region: str
    line: str = ""


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """One record as a provider would furnish it; `payload` is already normalised."""

    record_type: str
    provider_credit_code: str
    occurred_on: date
    ended_on: date | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SyntheticSubject:
    """A resident; `written_consent` says whether consent-bound fields may appear in payloads."""

    id_number: str
    name: str
    sex: Literal["M", "F"]
    birth_date: date
    records: tuple[SyntheticRecord, ...]
    written_consent: bool = False


# ---------------------------------------------------------------------------------------------
# Providers
# ---------------------------------------------------------------------------------------------

_ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_URBAN = names.CHONGQING_DISTRICTS[2:9] + names.CHONGQING_DISTRICTS[11:13]
_EMPLOYER_CODES = {
    "government": ("1", "1"),
    "public_institution": ("1", "2"),
    "state_owned": ("9", "1"),
    "private": ("9", "1"),
    "foreign_invested": ("9", "1"),
    "individual_business": ("9", "2"),
    "other": ("5", "2"),
}
_EMPLOYER_MIX = (
    ("private", 55),
    ("state_owned", 10),
    ("foreign_invested", 5),
    ("public_institution", 10),
    ("government", 5),
    ("individual_business", 10),
    ("other", 5),
)
EMPLOYER_COUNT = 120


def _employer_name(rng: random.Random, kind: str) -> str:
    district = rng.choice(names.CHONGQING_DISTRICTS)[1]
    word = "".join(rng.sample(names.EMPLOYER_WORDS, 2))
    trade = rng.choice(names.EMPLOYER_TRADES)
    if kind == "government":
        return rng.choice(names.GOVERNMENT_OFFICES).format(d=district)
    if kind == "public_institution":
        return rng.choice(names.PUBLIC_INSTITUTIONS).format(d=district)
    if kind == "individual_business":
        surname = rng.choice(names.SURNAMES)[0]
        return rng.choice(names.INDIVIDUAL_BUSINESSES).format(d=district, w=surname)
    if kind == "other":
        return f"重庆市{district}{word}社会工作服务中心"
    if kind == "state_owned":
        return f"重庆{word}{trade}集团有限公司"
    if kind == "foreign_invested":
        return f"重庆{word}{trade}(中外合资){rng.choice(names.EMPLOYER_FORMS)}"
    return f"重庆{word}{trade}{rng.choice(names.EMPLOYER_FORMS)}"


def generate_providers(seed: int) -> list[SyntheticProvider]:
    """The demo's data providers: banks, employers, courts, agencies; same seed, same list."""
    rng = random.Random(f"providers:{seed}")
    providers: list[SyntheticProvider] = []
    codes: set[str] = set()
    taken: set[str] = set()

    def add(
        kind: ProviderKind, name: str, pair: tuple[str, str], region: str, line: str = ""
    ) -> None:
        code = ""
        while not code or code in codes:
            body = (
                "MA" + "".join(rng.choices(_ORG_CHARS, k=6))
                if rng.random() < 0.5
                else f"{rng.randrange(10**8):08d}"
            )
            code = make_credit_code(pair[0], pair[1], region, body)
        codes.add(code)
        taken.add(name)
        providers.append(SyntheticProvider(code, name, kind, region, line))

    for bank in names.BANKS:
        add("bank", bank, ("9", "1"), rng.choice(_URBAN)[0])
    for insurer in names.INSURERS:
        add("insurer", insurer, ("9", "1"), rng.choice(_URBAN)[0])
    for utility, name in names.UTILITIES:
        add("utility", name, ("9", "1"), rng.choice(_URBAN)[0], utility)
    for merchant_kind, name in names.MERCHANTS:
        add("merchant", name, ("9", "1"), rng.choice(_URBAN)[0], merchant_kind)
    add("social_insurance", "重庆市社会保险事务中心", ("1", "2"), "500000")
    add("education", "重庆市教育考试院", ("1", "2"), "500000")
    for region, district in _URBAN:
        add("court", f"重庆市{district}人民法院", ("1", "1"), region)
        add("tax_bureau", f"国家税务总局重庆市{district}税务局", ("1", "1"), region)
        add("market_regulator", f"重庆市{district}市场监督管理局", ("1", "1"), region)
        add("public_security", f"重庆市公安局{district}分局", ("1", "1"), region)
        add("civil_affairs", f"重庆市{district}民政局", ("1", "1"), region)
        add("labour_arbitration", f"重庆市{district}劳动人事争议仲裁委员会", ("1", "1"), region)
    kinds = [k for k, _ in _EMPLOYER_MIX]
    weights = [w for _, w in _EMPLOYER_MIX]
    while sum(p.kind == "employer" for p in providers) < EMPLOYER_COUNT:
        kind = rng.choices(kinds, weights)[0]
        name = _employer_name(rng, kind)
        if name not in taken:
            add("employer", name, _EMPLOYER_CODES[kind], rng.choice(_URBAN)[0], kind)
    return providers


# ---------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------

#: Sequence slots per (region, birth date): sequences 1..998, odd for men, even for women.
_SLOTS = 499
_REGIONS = names.CHONGQING_DISTRICTS + names.OTHER_REGIONS
_MIN_AGE, _MAX_AGE = 18, 80


class _SubjectSpace:
    """A seed-keyed bijection from subject index to (region, birth date, sequence slot)."""

    def __init__(self, seed: int, today: date) -> None:
        self.first_birth = add_years(today, -_MAX_AGE).toordinal() + 1
        self.days = add_years(today, -_MIN_AGE).toordinal() - self.first_birth + 1
        self.capacity = self.days * len(_REGIONS) * _SLOTS
        rng = random.Random(f"space:{seed}")
        self.offset = rng.randrange(self.capacity)
        mult = rng.randrange(self.capacity // 3, self.capacity)
        while math.gcd(mult, self.capacity) != 1:
            mult += 1
        self.mult = mult

    def place(self, index: int) -> tuple[tuple[str, str], date, int]:
        x = (self.mult * index + self.offset) % self.capacity
        x, slot = divmod(x, _SLOTS)
        day, region = divmod(x, len(_REGIONS))
        return _REGIONS[region], date.fromordinal(self.first_birth + day), slot


_SURNAME_LIST = [s for s, _ in names.SURNAMES]
_SURNAME_CUM = list(itertools.accumulate(w for _, w in names.SURNAMES))


def _name(rng: random.Random, male: bool) -> tuple[str, str]:
    surname = rng.choices(_SURNAME_LIST, cum_weights=_SURNAME_CUM)[0]
    pool = names.GIVEN_MALE if male else names.GIVEN_FEMALE
    given = rng.choice(pool)
    if rng.random() < 0.7:
        given = rng.choice(names.GIVEN_SHARED + pool) + given
    return surname, given


def _life_records(
    life: Life, surname: str, name: str, id_number: str, region: str, place: str
) -> tuple[SyntheticRecord, ...]:
    chongqing = region.startswith("50")
    life.identity(name, id_number, region, place)
    work_from = life.education(place, chongqing)
    life.family(surname)
    work(life, work_from)
    payments.loans(life)
    payments.cards(life)
    payments.guarantee(life)
    payments.utilities(life)
    payments.consumption(life)
    special_records(life)
    # tuple(list), not tuple(generator): a tuple grown from a generator is resized into its
    # final size but freed onto that size's free list, which then fills up to CPython's bound
    # (about 4 MB over 100,000 subjects) and looks like growth in memory profiles.
    return tuple([SyntheticRecord(*record) for record in life.records])


def generate_subjects(
    n: int,
    seed: int,
    providers: Sequence[SyntheticProvider],
    catalog: Catalog,
    *,
    today: date,
    start: int = 0,
) -> Iterator[SyntheticSubject]:
    """Subjects `start`..`n-1`, produced lazily; arguments are checked before the first one."""
    if n < 0 or not 0 <= start <= n:
        raise ValueError("need 0 <= start <= n")
    space = _SubjectSpace(seed, today)
    if n > space.capacity:
        raise ValueError("n exceeds the number of distinct ID numbers this generator can make")
    by_kind: dict[str, list[SyntheticProvider]] = {}
    for provider in providers:
        by_kind.setdefault(provider.kind, []).append(provider)
    world = World(catalog, by_kind, today)

    def subject(index: int) -> SyntheticSubject:
        rng = random.Random(f"{seed}:{index}")
        (region, place), born, slot = space.place(index)
        male = rng.random() < 0.5
        id_number = make_citizen_id(region, born, 2 * slot + (1 if male else 2))
        surname, given = _name(rng, male)
        consent = rng.random() < 0.35
        life = Life(world, rng, born=born, male=male, consent=consent)
        return SyntheticSubject(
            id_number=id_number,
            name=surname + given,
            sex="M" if male else "F",
            birth_date=born,
            records=_life_records(life, surname, surname + given, id_number, region, place),
            written_consent=consent,
        )

    return (subject(i) for i in range(start, n))
