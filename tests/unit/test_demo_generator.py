"""The synthetic demo data: deterministic, lazy, valid against the catalog, realistic enough."""

from __future__ import annotations

import re
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

import pytest

from app.demo import generator, names
from app.demo.generator import (
    SyntheticProvider,
    SyntheticSubject,
    generate_providers,
    generate_subjects,
)
from app.demo.life import Life
from policies.catalog import CATEGORIES, default_catalog, validate_payload
from policies.identifiers import (
    make_citizen_id,
    parse_citizen_id,
    parse_credit_code,
    parse_living_citizen_id,
)
from policies.regions import citizen_region_problem
from policies.retention import display_until

TODAY = date(2025, 6, 15)
SEED = 7


@cache
def providers(seed: int = SEED) -> tuple[SyntheticProvider, ...]:
    return tuple(generate_providers(seed))


def subjects(n: int, seed: int = SEED, **kwargs: int) -> Iterator[SyntheticSubject]:
    return generate_subjects(n, seed, providers(seed), default_catalog(), today=TODAY, **kwargs)


@cache
def sample(n: int = 2000) -> tuple[SyntheticSubject, ...]:
    return tuple(subjects(n))


# -- providers ----------------------------------------------------------------------------------


def test_providers_are_deterministic_valid_and_unique() -> None:
    first = generate_providers(SEED)
    assert first == generate_providers(SEED)
    assert first != generate_providers(SEED + 1)
    codes = [p.credit_code for p in first]
    assert len(set(codes)) == len(codes)
    assert len({p.name for p in first}) == len(first)
    for provider in first:
        parsed = parse_credit_code(provider.credit_code)
        assert parsed.value == provider.credit_code
        assert parsed.region == provider.region
    kinds = Counter(p.kind for p in first)
    for kind in (
        "bank",
        "employer",
        "court",
        "tax_bureau",
        "social_insurance",
        "utility",
        "market_regulator",
        "public_security",
    ):
        assert kinds[kind] >= 1, kind
    employers = [p for p in first if p.kind == "employer"]
    pairs = {(p.line, parse_credit_code(p.credit_code).registration_authority) for p in employers}
    assert ("government", "1") in pairs
    assert ("individual_business", "9") in pairs


# -- determinism and resumption -----------------------------------------------------------------


def test_same_seed_same_subjects_and_different_seed_different_subjects() -> None:
    assert list(subjects(150)) == list(sample()[:150])
    other = list(subjects(150, seed=SEED + 1))
    assert [s.id_number for s in other] != [s.id_number for s in sample()[:150]]


def test_a_resumed_run_yields_exactly_the_subjects_of_a_full_run() -> None:
    assert list(subjects(300, start=120)) == list(sample()[120:300])
    assert list(subjects(5, start=5)) == []


def test_arguments_are_checked_before_the_first_subject() -> None:
    with pytest.raises(ValueError, match="start"):
        subjects(10, start=11)
    with pytest.raises(ValueError, match="start"):
        subjects(-1)
    with pytest.raises(ValueError, match="distinct ID numbers"):
        subjects(10**12)
    with pytest.raises(ValueError, match="no providers"):
        generate_subjects(1, SEED, [], default_catalog(), today=TODAY)


# -- validity -----------------------------------------------------------------------------------


def test_id_numbers_are_valid_and_consistent_with_birth_date_and_sex() -> None:
    for subject in sample():
        parsed = parse_living_citizen_id(subject.id_number, today=TODAY)
        assert parsed.value == subject.id_number
        assert parsed.birth_date == subject.birth_date
        assert parsed.sex == subject.sex
        age = TODAY.year - subject.birth_date.year
        assert 18 <= age <= 80
        identity = [r for r in subject.records if r.record_type == "A.identity"]
        assert len(identity) == 1
        assert identity[0].payload["id_number"] == subject.id_number
        assert identity[0].payload["name"] == subject.name
        assert identity[0].payload["birth_date"] == subject.birth_date.isoformat()
        assert identity[0].payload["sex"] == subject.sex


def test_every_region_the_generator_uses_passes_the_citizen_id_region_check() -> None:
    regions = names.CHONGQING_DISTRICTS + names.OTHER_REGIONS
    assert len(regions) > 40
    for region, _ in regions:
        assert citizen_region_problem(region) is None, region
        number = make_citizen_id(region, date(1980, 1, 2), 1)
        assert parse_citizen_id(number).region == region


def test_id_numbers_are_unique_over_twenty_thousand_subjects() -> None:
    numbers = [s.id_number for s in subjects(20_000)]
    assert len(set(numbers)) == 20_000
    regions = Counter(n[:2] for n in numbers)
    assert regions["50"] > 0.75 * len(numbers)  # mostly Chongqing, some born elsewhere


def test_every_payload_validates_and_is_already_normalised() -> None:
    catalog = default_catalog()
    codes = {p.credit_code for p in providers()}
    for subject in sample():
        for record in subject.records:
            record_type = catalog.require(record.record_type)
            normalised = validate_payload(
                record_type,
                record.payload,
                consent_recorded=subject.written_consent,
                today=TODAY,
            )
            assert normalised == record.payload
            assert record.provider_credit_code in codes


def test_consent_bound_fields_appear_only_with_consent() -> None:
    catalog = default_catalog()
    seen_with_consent = 0
    for subject in sample():
        for record in subject.records:
            bound = {
                f.name for f in catalog.require(record.record_type).fields if f.consent_required
            }
            present = bound & record.payload.keys()
            if present:
                assert subject.written_consent, record.record_type
                seen_with_consent += 1
    assert seen_with_consent > 100


def test_record_dates_are_ordered_and_never_after_today() -> None:
    for subject in sample():
        for record in subject.records:
            assert record.occurred_on <= TODAY
            assert subject.birth_date <= record.occurred_on
            if record.ended_on is not None:
                assert record.occurred_on <= record.ended_on <= TODAY


def test_repayment_grids_agree_with_overdue_records() -> None:
    grid = re.compile(r"[N*1-7CGDZ#/]{24}")
    for subject in sample():
        overdue_accounts = set()
        for record in subject.records:
            if record.record_type in ("B.loan", "B.credit_card"):
                assert grid.fullmatch(record.payload["repayment_grid"])
                if re.search(r"[1-7]", record.payload["repayment_grid"]):
                    overdue_accounts.add(record.payload["account_ref"])
                if record.ended_on is not None:
                    assert record.payload["repayment_grid"].endswith("C")
        refs = {r.payload["account_ref"] for r in subject.records if r.record_type == "B.overdue"}
        assert refs == overdue_accounts


# -- realism ------------------------------------------------------------------------------------


def test_all_categories_are_present_over_five_hundred_subjects() -> None:
    seen = {r.record_type[0] for s in sample()[:500] for r in s.records}
    assert seen == set(CATEGORIES)


def test_every_record_type_is_generated() -> None:
    seen = {r.record_type for s in subjects(5000) for r in s.records}
    assert seen == set(default_catalog().record_types)


def test_records_per_subject_and_negative_share_are_realistic() -> None:
    catalog = default_catalog()
    people = sample()
    mean = sum(len(s.records) for s in people) / len(people)
    assert 8 <= mean <= 15
    negative = [
        s for s in people if any(catalog.require(r.record_type).negative for r in s.records)
    ]
    assert 0.15 <= len(negative) / len(people) <= 0.25
    consenting = sum(s.written_consent for s in people) / len(people)
    assert 0.25 <= consenting <= 0.45


def test_some_negative_records_are_past_their_display_period_and_some_are_not() -> None:
    catalog = default_catalog()
    shown = hidden = 0
    for subject in sample():
        for record in subject.records:
            record_type = catalog.require(record.record_type)
            if not record_type.negative:
                continue
            last = display_until(
                record_type.retention, occurred_on=record.occurred_on, ended_on=record.ended_on
            )
            if last is not None and last < TODAY:
                hidden += 1
            else:
                shown += 1
    assert hidden > 50
    assert shown > 50


# -- laziness and memory (speed targets live in bench/, not here) --------------------------------


def test_generation_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = sample()[0]
    built: list[Life] = []

    class CountedLife(Life):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            if len(built) > 1:  # fails fast instead of building 400 million subjects
                raise AssertionError("generate_subjects built a subject nobody asked for")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(generator, "Life", CountedLife)
    stream = subjects(400_000_000)  # far more than memory could hold
    assert built == []  # nothing is built before the first subject is asked for
    first = next(stream)
    assert len(built) == 1
    assert first == expected
    assert not isinstance(stream, list | tuple)


def _peak_bytes(n: int) -> int:
    stream = subjects(n, seed=SEED + 2)
    tracemalloc.start()
    try:
        records = sum(len(s.records) for s in stream)
        return tracemalloc.get_traced_memory()[1] if records else 0
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_subjects() -> None:
    small, large = _peak_bytes(2_000), _peak_bytes(20_000)
    assert small > 0
    assert large < 4 * small, (small, large)  # a materialising generator would be ~10x
