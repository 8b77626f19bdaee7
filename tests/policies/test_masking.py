"""Masks never release more than they allow (property tests) and behave as documented."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.masking import REDACTED, apply_mask

KEY = b"k" * 32
texts = st.text(min_size=0, max_size=40)


def test_examples() -> None:
    assert apply_mask("none", "张三", "string", hash_key=KEY) == "张三"
    assert apply_mask("redact", "110105199001011234", "id_number", hash_key=KEY) == REDACTED
    assert (
        apply_mask("first6_last4", "110105199001011234", "id_number", hash_key=KEY)
        == "110105********1234"
    )
    assert apply_mask("last4", "6222021234567890", "string", hash_key=KEY) == "************7890"
    assert apply_mask("year_only", "2021-06-30", "date", hash_key=KEY) == "2021"
    assert apply_mask("year_only", "2021-06", "year_month", hash_key=KEY) == "2021"
    assert apply_mask("year_only", date(2019, 1, 2), "date", hash_key=KEY) == "2019"
    assert apply_mask("first6_last4", "12345", "string", hash_key=KEY) == "*****"
    assert apply_mask("last4", "123", "string", hash_key=KEY) == "***"
    assert apply_mask("redact", None, "string", hash_key=KEY) is None


@given(texts)
def test_first6_last4_keeps_at_most_ten_characters_and_the_length(value: str) -> None:
    masked = apply_mask("first6_last4", value, "string", hash_key=KEY)
    assert isinstance(masked, str)
    assert len(masked) == len(value)
    if len(value) <= 10:
        assert masked == "*" * len(value)
    else:
        assert masked[:6] == value[:6]
        assert masked[-4:] == value[-4:]
        assert masked[6:-4] == "*" * (len(value) - 10)


@given(texts)
def test_last4_keeps_at_most_four_characters(value: str) -> None:
    masked = apply_mask("last4", value, "string", hash_key=KEY)
    assert isinstance(masked, str)
    assert len(masked) == len(value)
    shown = 0 if len(value) <= 4 else 4
    assert masked[: len(value) - shown] == "*" * (len(value) - shown)
    assert masked[len(value) - shown :] == value[len(value) - shown :]


@given(st.one_of(texts, st.integers(), st.booleans(), st.dates()))
def test_redact_discloses_nothing_not_even_the_length(value: object) -> None:
    assert apply_mask("redact", value, "string", hash_key=KEY) == REDACTED


@given(st.dates())
def test_year_only_keeps_only_the_year(day: date) -> None:
    assert apply_mask("year_only", day.isoformat(), "date", hash_key=KEY) == f"{day.year:04d}"
    assert apply_mask("year_only", day.isoformat()[:7], "year_month", hash_key=KEY) == (
        f"{day.year:04d}"
    )


@given(texts)
def test_year_only_on_anything_else_is_redacted(value: str) -> None:
    masked = apply_mask("year_only", value, "string", hash_key=KEY)
    assert masked == REDACTED


@given(texts.filter(lambda v: not (v[:4].isascii() and v[:4].isdigit())))
def test_year_only_on_a_malformed_date_is_redacted(value: str) -> None:
    assert apply_mask("year_only", value, "date", hash_key=KEY) == REDACTED


@given(texts, texts)
def test_hash_is_stable_under_one_key_and_reveals_no_characters(a: str, b: str) -> None:
    ha = apply_mask("hash", a, "string", hash_key=KEY)
    hb = apply_mask("hash", b, "string", hash_key=KEY)
    assert isinstance(ha, str)
    assert ha.startswith("h:")
    assert len(ha) == 18
    assert int(ha[2:], 16) >= 0
    assert ha == apply_mask("hash", a, "string", hash_key=KEY)
    assert (ha == hb) == (a == b)


def test_hash_is_unlinkable_across_fresh_keys() -> None:
    value = "110105199001011234"
    seen = {
        apply_mask("hash", value, "id_number", hash_key=secrets.token_bytes(32)) for _ in range(20)
    }
    assert len(seen) == 20


def test_hash_refuses_a_short_key() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        apply_mask("hash", "x", "string", hash_key=b"short")


def test_an_unknown_mask_kind_is_refused_without_echoing_the_value() -> None:
    with pytest.raises(ValueError, match="unknown mask kind 'peek'") as caught:
        apply_mask("peek", "110105199001011234", "string", hash_key=KEY)  # type: ignore[arg-type]
    assert "110105" not in str(caught.value)


@pytest.mark.parametrize("kind", ["first6_last4", "last4", "hash"])
def test_textual_masks_redact_non_textual_values(kind: str) -> None:
    for value in (True, 3.5, date(2020, 1, 1), b"bytes"):
        assert apply_mask(kind, value, "string", hash_key=KEY) == REDACTED  # type: ignore[arg-type]
