"""The staff password policy and the shipped common-password list."""

from __future__ import annotations

import pytest

from app.services.auth.password_policy import (
    COMMON,
    HAS_SERVICE,
    HAS_USERNAME,
    MAX_LENGTH,
    MIN_LENGTH,
    REPEATED,
    TOO_SHORT,
    PasswordPolicy,
    PasswordRejected,
    check_password,
)
from policies.common_passwords import MIN_ENTRIES, common_passwords, is_common, parse

GOOD = "violet tram ledger 47"


def _reasons(password: str, username: str | None = None) -> tuple[str, ...]:
    with pytest.raises(PasswordRejected) as caught:
        check_password(password, username=username)
    return caught.value.reasons


def test_the_shipped_list_is_a_real_list_loaded_once() -> None:
    entries = common_passwords()
    assert isinstance(entries, frozenset)
    assert 10_000 <= len(entries) <= 30_000
    assert len(entries) >= MIN_ENTRIES
    assert common_passwords() is entries  # loaded once, then shared
    assert {"123456", "password", "qwerty", "iloveyou", "trustno1"} <= entries
    assert all(entry == entry.lower() and entry for entry in entries)
    assert not any(entry.startswith("#") for entry in entries)


def test_the_list_parser_skips_comments_and_blank_lines_and_lowercases() -> None:
    assert parse("# header\n\nAbc\nxyz\n# more\n") == frozenset({"abc", "xyz"})


def test_a_good_password_passes() -> None:
    check_password(GOOD, username="zhang.wei")
    assert PasswordPolicy().problems(GOOD, username="zhang.wei") == ()


def test_minimum_length_is_12() -> None:
    assert MIN_LENGTH == 12
    assert _reasons("violet tram") == (TOO_SHORT,)  # 11 characters
    check_password("violet tram!")  # 12
    assert "at least 12 characters" in TOO_SHORT


def test_maximum_length_is_1024() -> None:
    assert MAX_LENGTH == 1024
    longest = ("k7" + "violet tram ledger " * 54)[:1024]
    assert len(longest) == 1024
    check_password(longest)
    reasons = _reasons("x" * 1025)
    assert reasons == ("A password may have at most 1024 characters.",)


@pytest.mark.parametrize(
    "password",
    [
        "1qaz2wsx3edc",  # on the list itself
        "QAZWSXEDCRFV",  # case-insensitive
        "Password2024!",  # a listed word inside digits and punctuation
        "   football12345   ",
        "dragon!!1234567890",
    ],
)
def test_common_and_breached_passwords_are_refused(password: str) -> None:
    assert COMMON in _reasons(password)


def test_repeated_short_or_common_units_are_refused() -> None:
    assert REPEATED in _reasons("abcabcabcabc")
    assert REPEATED in _reasons("zzzzzzzzzzzzzzzz")
    assert REPEATED in _reasons("qwertyqwerty")
    assert is_common("qwerty")
    # A long, uncommon unit repeated is not this rule's business.
    check_password("violet-tram-violet-tram-")


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("my zhang.wei password", "zhang.wei"),
        ("ZHANG.WEI is my name 9", "zhang.wei"),  # case-insensitive
        ("zhangwei violet tram", "zhang.wei"),  # separators removed
        ("violet tram zhang 47", "zhang.wei"),  # a part of 4+ characters
        ("violet li_na tram 47", "li_na"),
    ],
)
def test_passwords_containing_the_username_are_refused(password: str, username: str) -> None:
    assert HAS_USERNAME in _reasons(password, username)


def test_short_username_parts_alone_do_not_refuse() -> None:
    check_password("a weighty violet tram", username="li.wei")  # "wei" is under 4 characters


def test_the_service_name_is_refused() -> None:
    assert HAS_SERVICE in _reasons("my CreditGate login 7")


def test_every_broken_rule_is_reported_at_once() -> None:
    reasons = _reasons("wang.fang1", "wang.fang")
    assert TOO_SHORT in reasons
    assert HAS_USERNAME in reasons


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("short pw", None),
        ("Password2024!", None),
        ("abcabcabcabc", None),
        ("x" * 1025, None),
        ("my zhang.wei password", "zhang.wei"),
        ("my creditgate xyz 12", None),
    ],
)
def test_messages_never_contain_the_password(password: str, username: str | None) -> None:
    with pytest.raises(PasswordRejected) as caught:
        check_password(password, username=username)
    shown = (str(caught.value) + " ".join(caught.value.reasons) + repr(caught.value)).lower()
    assert password.lower() not in shown
    assert password.strip().lower() not in shown
