"""Values that satisfy a JSON Schema, as a Hypothesis strategy: the subset pydantic and Powertools put into OpenAPI
3.1 documents ($ref, anyOf/oneOf/allOf, const, enum, string with min/max length, pattern and date/date-time format,
integer and number with bounds, boolean, null, array, object with properties, required, additionalProperties,
propertyNames and maxProperties). Small on purpose: hypothesis-jsonschema does not work with current Hypothesis."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

MAX_DEPTH = 6
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 50:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if depth > MAX_DEPTH:
        return st.none()
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k not in (key, "title", "description", "default")}
            return st.one_of(*[from_schema({**rest, **option}, root, depth + 1) for option in schema[key]])
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return from_schema(merged, root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*[from_schema({**schema, "type": k}, root, depth) for k in kind])
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(min_value=_bound(schema.get("minimum")), max_value=_bound(schema.get("maximum")))
    if kind == "number":
        return st.one_of(
            st.integers(min_value=_bound(schema.get("minimum")), max_value=_bound(schema.get("maximum"))),
            st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"), allow_nan=False,
                      allow_infinity=False, width=32),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items") or {}, root, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 5), 5))
    if kind == "object" or "properties" in schema:
        return _object(schema, root, depth)
    return st.one_of(st.none(), st.booleans(), st.integers(), _TEXT)  # {} : anything


def _bound(value: Any) -> int | None:
    return None if value is None else int(value)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    fmt = schema.get("format")
    if fmt == "date-time":
        return st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.just(UTC)).map(lambda d: d.isoformat())
    if fmt == "date":
        return st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat)
    if "pattern" in schema:
        pattern = schema["pattern"]
        strategy = st.from_regex(re.compile(pattern), fullmatch=pattern.startswith("^") and pattern.endswith("$"))
        return strategy.filter(lambda s: len(s) >= low and (high is None or len(s) <= high))
    return st.text(st.characters(exclude_categories=("Cs",)), min_size=low,
                   max_size=min(high, 60) if high is not None else 60)


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fixed = {name: from_schema(sub, root, depth + 1) for name, sub in properties.items() if name in required}
    optional = {name: from_schema(sub, root, depth + 1) for name, sub in properties.items() if name not in required}
    extra = schema.get("additionalProperties", True)
    strategy = st.fixed_dictionaries(fixed, optional=optional)
    if extra is False or (not extra and properties):
        return strategy
    names = _string(schema.get("propertyNames") or {"type": "string", "maxLength": 30})
    values = from_schema(extra if isinstance(extra, dict) else {}, root, depth + 1)
    limit = min(schema.get("maxProperties", 4), 4)
    more = st.dictionaries(names.filter(lambda n: n not in properties), values, max_size=limit)
    return st.builds(lambda a, b: {**b, **a}, strategy, more)
