"""What the catalog may declare at all: prohibited collection and consent-bound concepts.

Guarantees:
- `prohibited_concept` recognises religion, genes, fingerprints, blood type, disease and medical
  history (and the obvious synonyms below) in a snake_case name or concept, in an English title
  (as whole words, so "general" is not "gene") and in a Chinese title (as a substring).
- `consent_concept` recognises income, deposits, securities, insurance amounts, real estate and
  tax amounts the same way, plus through a field's declared `concept`.
- Both return the plain-words name of what matched, for error messages, or None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PROHIBITED_RULE = (
    "prohibited-collection rule: religion, genes, fingerprints, blood type, disease and "
    "medical history are never collected"
)
CONSENT_RULE = (
    "consent rule: income, deposits, securities, insurance, real estate and tax amounts are "
    "collected only with the subject's recorded written consent"
)

# (word sequence, plain-words name): a label matches when the words appear consecutively in it.
_PROHIBITED_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("religion",), "religion"),
    (("religions",), "religion"),
    (("religious",), "religion"),
    (("faith",), "religion"),
    (("gene",), "genes"),
    (("genes",), "genes"),
    (("genetic",), "genes"),
    (("genome",), "genes"),
    (("dna",), "genes"),
    (("fingerprint",), "fingerprints"),
    (("fingerprints",), "fingerprints"),
    (("blood", "type"), "blood type"),
    (("blood", "group"), "blood type"),
    (("disease",), "disease"),
    (("diseases",), "disease"),
    (("diseased",), "disease"),
    (("health", "condition"), "disease"),
    (("health", "status"), "disease"),
    (("illness",), "disease"),
    (("diagnosis",), "disease"),
    (("medical", "history"), "medical history"),
    (("medical", "record"), "medical history"),
    (("medical", "records"), "medical history"),
)
_PROHIBITED_ZH: tuple[tuple[str, str], ...] = (
    ("宗教", "religion"),
    ("信仰", "religion"),
    ("基因", "genes"),
    ("指纹", "fingerprints"),
    ("血型", "blood type"),
    ("疾病", "disease"),
    ("病史", "medical history"),
    ("病历", "medical history"),
)

_CONSENT_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("income",), "income"),
    (("wage",), "income"),
    (("wages",), "income"),
    (("salary",), "income"),
    (("deposit",), "deposits"),
    (("deposits",), "deposits"),
    (("securities",), "securities"),
    (("insurance", "amount"), "insurance"),
    (("insured", "amount"), "insurance"),
    (("premium",), "insurance"),
    (("real", "estate"), "real estate"),
    (("tax", "amount"), "tax amounts"),
    (("tax", "paid"), "tax amounts"),
)
_CONSENT_CONCEPTS: dict[str, str] = {
    "income": "income",
    "deposit": "deposits",
    "securities": "securities",
    "insurance": "insurance",
    "real_estate": "real estate",
    "tax_amount": "tax amounts",
}
#: The concept codes a written consent to collection can cover (catalog `concept` values).
CONSENT_CONCEPTS: frozenset[str] = frozenset(_CONSENT_CONCEPTS)

_CONSENT_ZH: tuple[tuple[str, str], ...] = (
    ("收入", "income"),
    ("工资", "income"),
    ("存款", "deposits"),
    ("证券", "securities"),
    ("保险金额", "insurance"),
    ("保费", "insurance"),
    ("房产", "real estate"),
    ("不动产", "real estate"),
    ("纳税额", "tax amounts"),
    ("税额", "tax amounts"),
)

_WORD = re.compile(r"[a-z0-9]+")


def _words(label: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(label.lower()))


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def _match(
    labels: Iterable[str],
    word_table: tuple[tuple[tuple[str, ...], str], ...],
    zh_table: tuple[tuple[str, str], ...],
) -> str | None:
    for label in labels:
        words = _words(label)
        for phrase, name in word_table:
            if _contains(words, phrase):
                return name
        for fragment, name in zh_table:
            if fragment in label:
                return name
    return None


def prohibited_concept(*labels: str | None) -> str | None:
    """The prohibited category any of these labels names, or None."""
    return _match((x for x in labels if x), _PROHIBITED_WORDS, _PROHIBITED_ZH)


def consent_concept(concept: str | None, *labels: str | None) -> str | None:
    """The consent-bound category a declared concept or any label names, or None."""
    if concept is not None and concept in _CONSENT_CONCEPTS:
        return _CONSENT_CONCEPTS[concept]
    return _match((x for x in (concept, *labels) if x), _CONSENT_WORDS, _CONSENT_ZH)
