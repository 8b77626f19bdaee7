"""Hypothesis strategies drawn from the OpenAPI document's own JSON Schemas.

Only the keywords the document uses in requests are understood; any other keyword raises
`UnsupportedSchema`, so a schema that grows a new kind of constraint fails the fuzz test loudly
instead of being fuzzed as if the constraint were not there. Every drawn value is valid under
its schema (checked with jsonschema before it is handed out).
"""

from __future__ import annotations

from datetime import UTC
from functools import cache
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from tests import openapi_check

#: Keywords that say nothing about which values are valid.
_ANNOTATIONS = frozenset(
    {"description", "title", "examples", "default", "deprecated", "contentMediaType"}
)
_STRING = frozenset({"type", "minLength", "maxLength", "pattern", "format"})
_FORMATS = {
    "uuid": st.uuids().map(str),
    "date-time": st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    "date": st.dates().map(lambda day: day.isoformat()),
}


class UnsupportedSchema(Exception):
    """The schema uses a keyword this generator does not understand."""


def inline(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """`node` with every local `$ref` replaced by what it names."""
    if isinstance(node, list):
        return [inline(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise UnsupportedSchema(f"cyclic reference {ref}")
        target: Any = openapi_check.spec()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        extra = {key: value for key, value in node.items() if key != "$ref"}
        return inline({**target, **extra}, (*seen, ref))
    return {key: inline(value, seen) for key, value in node.items()}


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under `schema` (local references resolved first)."""
    resolved = inline(schema)
    validator = Draft202012Validator(resolved, format_checker=FormatChecker())
    return _values(resolved).filter(validator.is_valid)


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    keywords = set(schema) - _ANNOTATIONS
    if "const" in keywords:
        _only(keywords, {"const"})
        return st.just(schema["const"])
    if "enum" in keywords:
        _only(keywords, {"enum", "type"})
        return st.sampled_from(schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in keywords:
            _only(keywords, {combinator})
            return st.one_of([_values(option) for option in schema[combinator]])
    kind = schema.get("type")
    if kind == "string":
        _only(keywords, _STRING)
        return _strings(schema)
    if kind == "integer":
        _only(keywords, {"type", "minimum", "maximum"})
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "boolean":
        _only(keywords, {"type"})
        return st.booleans()
    if kind == "null":
        _only(keywords, {"type"})
        return st.none()
    if kind == "array":
        _only(keywords, {"type", "items", "minItems", "maxItems", "uniqueItems"})
        return st.lists(
            _values(schema.get("items", {"type": "string"})),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 5),
            unique=bool(schema.get("uniqueItems")),
        )
    if kind == "object":
        _only(keywords, {"type", "properties", "required", "additionalProperties"})
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: _values(sub) for name, sub in properties.items() if name in required},
            optional={
                name: _values(sub) for name, sub in properties.items() if name not in required
            },
        )
    raise UnsupportedSchema(f"no generator for {sorted(keywords)}")


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "format" in schema:
        if schema["format"] not in _FORMATS:
            raise UnsupportedSchema(f"format {schema['format']}")
        return _FORMATS[schema["format"]]
    if "pattern" in schema:
        drawn = _pattern(schema["pattern"])
        return drawn.filter(
            lambda text: low <= len(text) <= (high if high is not None else len(text))
        )
    return st.text(min_size=low, max_size=high if high is not None else 64)


@cache
def _pattern(pattern: str) -> st.SearchStrategy[str]:
    anchored = pattern.startswith("^") and pattern.endswith("$")
    return st.from_regex(pattern, fullmatch=anchored)


def _only(keywords: set[str], allowed: set[str] | frozenset[str]) -> None:
    unknown = keywords - allowed
    if unknown:
        raise UnsupportedSchema(f"keywords {sorted(unknown)} alongside {sorted(allowed)}")
