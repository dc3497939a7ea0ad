"""Campaign segments: the filter language that picks a campaign's contacts. Pure: no AWS, no I/O.

A segment is a tree. The JSON form (what the HTTP API stores and accepts) is ``{"and": [node, ...]}``,
``{"or": [node, ...]}``, ``{"not": node}`` or a condition ``{"field": "lead_score", "op": "gte", "value": 50}``.
The text form is what a marketer types, e.g.::

    lifecycle = former_customer and (custom."Důvod ztráty" = "Chybějící funkce A" or tag any ["VIP", "Partner"])

``and`` binds tighter than ``or``; ``not`` and parentheses as usual; keywords and built-in field names are
case-insensitive; texts are compared case-insensitively after Unicode NFC normalisation and stripping. FIELDS lists
every field and the ops it allows; docs/segments.md is the reference for users. Everything is validated up front
(``parse_segment``, ``parse_query``) and raises ``SegmentError``; ``compile_segment`` turns a valid tree into a
fast predicate for the millions of contacts of a campaign.
"""

from __future__ import annotations

import difflib
import functools
import math
import operator
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, NamedTuple, Union
from zoneinfo import ZoneInfo

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, RootModel, StrictBool, StrictFloat, StrictInt,
                      StrictStr, Tag, model_serializer, model_validator)

from crm_automation.domain.models import Contact, DealStatus, Lifecycle

MAX_DEPTH = 20
MAX_CONDITIONS = 200
MAX_LIST_ITEMS = 1000
MAX_DAYS = 36500  # 100 years


class SegmentError(ValueError):
    """An invalid segment; the message is for the marketer or API user. ``line``/``column`` for the text form."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}, column {column}: {message}")
        self.line, self.column = line, column


# ------------------------------------------------------------------ fields, ops and their values

_SET_OPS = {"has": "text", "has_any": "texts", "has_all": "texts"}
_VALUE_OPS = {"eq": "scalar", "ne": "scalar", "in": "scalars", "contains": "text", "exists": "nothing",
              "gt": "number", "gte": "number", "lt": "number", "lte": "number"}
# field -> op -> the kind of value the op takes
FIELDS: dict[str, dict[str, str]] = {
    "tag": _SET_OPS,
    "category": _SET_OPS,
    "custom.<name>": _VALUE_OPS,
    "company": {"eq": "text", "ne": "text", "in": "texts", "contains": "text", "exists": "nothing"},
    "company.<name>": _VALUE_OPS,
    "lifecycle": {"eq": "lifecycle", "ne": "lifecycle", "in": "lifecycles"},
    "deal_status": {"has": "deal_status", "has_any": "deal_statuses", "none": "deal_status"},
    "deal_loss_reason": {"has": "text", "has_any": "texts", "contains": "text"},
    "last_activity": {"within_days": "days", "older_than_days": "days", "before": "date", "after": "date"},
    "lead_score": {"eq": "number", "ne": "number", "gt": "number", "gte": "number", "lt": "number", "lte": "number",
                   "between": "range"},
    "owner": {"eq": "text", "ne": "text", "in": "texts"},
}
_ENUMS = {"lifecycle": [m.value for m in Lifecycle], "deal_status": [m.value for m in DealStatus]}
_LIST_OF = {"texts": "text", "scalars": "scalar", "lifecycles": "lifecycle", "deal_statuses": "deal_status"}
_NEEDS = {"text": "a non-empty text", "scalar": "a non-empty text, a number or true/false", "number": "a number",
          "range": "two numbers [low, high] with low <= high", "days": f"a whole number of days (0 to {MAX_DAYS})",
          "date": "a date YYYY-MM-DD", "lifecycle": "a lifecycle", "deal_status": "a deal status"}
_NEEDS_LIST = {"text": "non-empty texts", "scalar": "non-empty texts, numbers or true/false",
               "lifecycle": "lifecycles", "deal_status": "deal statuses"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _valid(kind: str, v: Any) -> bool:
    if kind == "number":
        return _is_number(v)
    if kind == "scalar":
        return _is_number(v) or isinstance(v, bool) or (isinstance(v, str) and bool(v.strip()))
    if kind == "days":
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_DAYS
    if kind == "range":
        return isinstance(v, list) and len(v) == 2 and all(map(_is_number, v)) and v[0] <= v[1]
    if kind == "date":
        try:
            return isinstance(v, str) and bool(_DATE.fullmatch(v)) and 1900 <= date.fromisoformat(v).year < 9999
        except ValueError:
            return False
    return isinstance(v, str) and bool(v.strip())  # text, lifecycle, deal_status


def _check_value(kind: str, value: Any, what: str, field: str) -> Any:
    if kind == "nothing":
        if value is not None:
            raise SegmentError(f"{what} takes no value for field '{field}'")
        return None
    if kind in _LIST_OF:
        item = _LIST_OF[kind]
        if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            raise SegmentError(f"{what} takes at most {MAX_LIST_ITEMS} values for field '{field}'")
        if not (isinstance(value, list) and value and all(_valid(item, v) for v in value)):
            raise SegmentError(f"{what} needs a non-empty list of {_NEEDS_LIST[item]} for field '{field}'")
        return [_check_value(item, v, what, field) for v in value]
    if not _valid(kind, value):
        raise SegmentError(f"{what} needs {_NEEDS[kind]} for field '{field}'")
    if kind in _ENUMS:
        if value.strip().lower() not in _ENUMS[kind]:
            raise SegmentError(f"unknown {kind.replace('_', ' ')} '{value}' for field '{field}' "
                               f"(known: {', '.join(_ENUMS[kind])})")
        return value.strip().lower()
    return value


def field_key(field: Any) -> tuple[str, str | None]:
    """``'Custom.Obor'`` -> ``('custom.<name>', 'Obor')``; ``'Lifecycle'`` -> ``('lifecycle', None)``."""
    if not isinstance(field, str):
        raise SegmentError("'field' must be a text, e.g. \"tag\" or \"custom.Obor\"")
    head, dot, name = field.partition(".")
    if dot and head.strip().lower() in ("custom", "company"):
        if not name.strip():
            raise SegmentError(f"field '{field}' needs a name after the dot, e.g. {head.strip().lower()}.Obor")
        return f"{head.strip().lower()}.<name>", name
    if (key := field.strip().lower()) in FIELDS and "<" not in key:
        return key, None
    close = difflib.get_close_matches(key, list(FIELDS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SegmentError(f"unknown field '{field}' ({hint}known: {', '.join(FIELDS)})")


def check_condition(field: Any, op: Any, value: Any, op_label: str | None = None) -> tuple[str, str, Any]:
    """Validates one condition; returns it normalised (field prefix, op and enum values lower-cased)."""
    key, name = field_key(field)
    canonical = key if name is None else f"{key.split('.')[0]}.{name}"
    ops = FIELDS[key]
    norm_op = op.strip().lower() if isinstance(op, str) else op
    if not isinstance(norm_op, str) or norm_op not in ops:
        raise SegmentError(f"op '{op}' is not allowed for field '{canonical}' (allowed: {', '.join(ops)})")
    return canonical, norm_op, _check_value(ops[norm_op], value, op_label or f"op '{norm_op}'", canonical)


# ------------------------------------------------------------------ the tree (pydantic, JSON-serialisable)

_MODEL = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True, validate_by_name=True,
                    validate_by_alias=True)
JsonScalar = StrictBool | StrictInt | StrictFloat | StrictStr


class Condition(BaseModel):
    model_config = _MODEL
    field: str
    op: str
    value: JsonScalar | list[JsonScalar] | None = None

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if isinstance(data, dict):
            field, op, value = check_condition(data.get("field"), data.get("op"), data.get("value"))
            return {**data, "field": field, "op": op, "value": value}
        return data

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        if self.value is None:
            out.pop("value", None)
        return out


class And(BaseModel):
    model_config = _MODEL
    and_: list[Node] = Field(alias="and", min_length=1)


class Or(BaseModel):
    model_config = _MODEL
    or_: list[Node] = Field(alias="or", min_length=1)


class Not(BaseModel):
    model_config = _MODEL
    not_: Node = Field(alias="not")


def _node_kind(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return type(v).__name__.lower()
    if isinstance(v, dict):
        return next((k for k in ("and", "or", "not") if k in v), "condition")
    return None


Node = Annotated[Union[Annotated[And, Tag("and")], Annotated[Or, Tag("or")], Annotated[Not, Tag("not")],  # noqa: UP007
                       Annotated[Condition, Tag("condition")]], Discriminator(_node_kind)]
for _model in (And, Or, Not):
    _model.model_rebuild()


class Segment(RootModel[Node]):
    """A segment as an API body field: validates like ``parse_segment`` (errors come as pydantic's ValidationError)."""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        return parse_segment(data) if isinstance(data, dict) else data


def parse_segment(obj: Any) -> Node:
    """The JSON form -> a validated, normalised tree. Raises SegmentError naming the place (e.g. ``and[1].not``)."""
    return normalize(_build(obj, "", 1, [0]))


def _build(obj: Any, path: str, depth: int, count: list[int]) -> Node:
    where = f"{path}: " if path else ""
    if depth > MAX_DEPTH:
        raise SegmentError(f"{where}the segment is nested too deeply (more than {MAX_DEPTH} levels)")
    if not isinstance(obj, dict):
        raise SegmentError(f'{where}expected an object: {{"and": [...]}}, {{"or": [...]}}, {{"not": {{...}}}} '
                           f'or a condition {{"field": ..., "op": ..., "value": ...}}')
    for key in ("and", "or", "not"):
        if key in obj:
            if set(obj) != {key}:
                raise SegmentError(f"{where}'{key}' must be the only key of its object (found: {', '.join(obj)})")
            sub = f"{path}.{key}".lstrip(".")
            if key == "not":
                return Not(not_=_build(obj[key], sub, depth + 1, count))
            if not isinstance(obj[key], list) or not obj[key]:
                raise SegmentError(f"{where}'{key}' needs a non-empty list of conditions")
            items = [_build(x, f"{sub}[{i}]", depth + 1, count) for i, x in enumerate(obj[key])]
            return And(and_=items) if key == "and" else Or(or_=items)
    if not {"field", "op"} <= set(obj) <= {"field", "op", "value"}:
        raise SegmentError(f"{where}a condition has the keys 'field', 'op' and (for most ops) 'value'; "
                           f"found: {', '.join(obj) or 'none'}")
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise SegmentError(f"the segment has too many conditions (more than {MAX_CONDITIONS})")
    try:
        field, op, value = check_condition(obj["field"], obj["op"], obj.get("value"))
    except SegmentError as e:
        raise SegmentError(f"{where}{e}") from None
    return Condition.model_construct(field=field, op=op, value=value)


def dump(node: Node | Segment) -> dict[str, Any]:
    """The JSON form of a tree, as the API returns and stores it; ``parse_segment(dump(n)) == normalize(n)``."""
    return node.model_dump(mode="json")


def normalize(node: Node) -> Node:
    """The canonical tree: a group of one is its member; ``a and (b and c)`` is ``a and b and c``."""
    if isinstance(node, Not):
        return Not(not_=normalize(node.not_))
    if isinstance(node, And | Or):
        items: list[Node] = []
        for child in map(normalize, _members(node)):
            items.extend(_members(child) if type(child) is type(node) else [child])
        return items[0] if len(items) == 1 else (And(and_=items) if isinstance(node, And) else Or(or_=items))
    return node


def _members(node: Node) -> list[Node]:
    return node.and_ if isinstance(node, And) else node.or_  # type: ignore[union-attr]


def _depth(node: Node) -> int:
    if isinstance(node, Not):
        return 1 + _depth(node.not_)
    return 1 + max(map(_depth, _members(node))) if isinstance(node, And | Or) else 1


# ------------------------------------------------------------------ matching

Matcher = Callable[[Contact, datetime], bool]
_CMP = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@functools.lru_cache(maxsize=65536)  # tags, owners and field values repeat across millions of contacts
def _norm(s: str) -> str:
    return unicodedata.normalize("NFC", s).strip().casefold()


def _text(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _number(v: Any) -> Decimal | None:
    """A number, or a text that reads as one ("120", "3,5"); None for anything else (bools included)."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, str):
        v = v.strip()
        v = v.replace(",", ".", 1) if "." not in v else v
    try:
        n = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return n if n.is_finite() else None


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _dict_getter(attr: str, name: str) -> Callable[[Contact], Any]:
    key = _norm(name)

    def get(c: Contact) -> Any:
        d = getattr(c, attr)
        if name in d:
            return d[name]
        return next((v for k, v in d.items() if _norm(k) == key), None)
    return get


def _equals_any(wanted: list[Any]) -> Callable[[Any], bool]:
    """Numbers compare as numbers (also numeric texts), everything else as normalised text."""
    nums = {n for w in wanted if (n := _number(w)) is not None}
    texts = {_norm(_text(w)) for w in wanted if _number(w) is None}

    def eq(v: Any) -> bool:
        if v is None:
            return False
        if nums and (n := _number(v)) is not None and n in nums:
            return True
        return bool(texts) and _norm(_text(v)) in texts
    return eq


def _value_test(op: str, v: Any, get: Callable[[Contact], Any]) -> Matcher:
    if op == "exists":
        return lambda c, now: (x := get(c)) is not None and not (isinstance(x, str) and not x.strip())
    if op == "contains":
        needle = _norm(v)
        return lambda c, now: (x := get(c)) is not None and needle in _norm(_text(x))
    if op in ("eq", "ne", "in"):
        eq = _equals_any(_as_list(v))
        return (lambda c, now: not eq(get(c))) if op == "ne" else (lambda c, now: eq(get(c)))
    if op == "between":
        lo, hi = _number(v[0]), _number(v[1])
        return lambda c, now: (n := _number(get(c))) is not None and lo <= n <= hi
    cmp, ref = _CMP[op], _number(v)
    return lambda c, now: (n := _number(get(c))) is not None and cmp(n, ref)


def _condition_matcher(cond: Condition, zone: ZoneInfo) -> Matcher:
    field, op, v = cond.field, cond.op, cond.value
    if field in ("tag", "category"):
        attr, wanted = ("tags" if field == "tag" else "categories"), {_norm(x) for x in _as_list(v)}
        if op == "has_all":
            return lambda c, now: wanted <= {_norm(t) for t in getattr(c, attr)}
        return lambda c, now: not wanted.isdisjoint(_norm(t) for t in getattr(c, attr))
    if field == "deal_loss_reason":
        if op == "contains":
            needle = _norm(v)
            return lambda c, now: any(d.loss_reason and needle in _norm(d.loss_reason) for d in c.deals)
        reasons = {_norm(x) for x in _as_list(v)}
        return lambda c, now: any(d.loss_reason and _norm(d.loss_reason) in reasons for d in c.deals)
    if field == "deal_status":
        statuses = {DealStatus(x) for x in _as_list(v)}
        if op == "none":
            return lambda c, now: not any(d.status in statuses for d in c.deals)
        return lambda c, now: any(d.status in statuses for d in c.deals)
    if field == "lifecycle":
        stages = {Lifecycle(x) for x in _as_list(v)}
        return (lambda c, now: c.lifecycle not in stages) if op == "ne" else (lambda c, now: c.lifecycle in stages)
    if field == "last_activity":
        if op in ("within_days", "older_than_days"):
            span = timedelta(days=v)
            if op == "within_days":
                return lambda c, now: c.last_activity_at >= now - span
            return lambda c, now: c.last_activity_at < now - span
        day = date.fromisoformat(v) + timedelta(days=1 if op == "after" else 0)
        edge = datetime.combine(day, time(), tzinfo=zone)  # midnight, local time
        if op == "after":
            return lambda c, now: c.last_activity_at >= edge
        return lambda c, now: c.last_activity_at < edge
    if field.startswith(("custom.", "company.")):
        prefix, _, name = field.partition(".")
        get = _dict_getter("custom_fields" if prefix == "custom" else "company_fields", name)
    else:  # company, owner, lead_score
        get = operator.attrgetter(field)
    return _value_test(op, v, get)


def compile_segment(node: Node | Segment, tz: str = "Europe/Prague",
                    lead_score: Callable[[Contact, datetime], Any] | None = None) -> Matcher:
    """A fast predicate ``(contact, now) -> bool`` for a valid tree. Compile once per campaign run.
    `lead_score`: the contact's score at a moment (the decayed lead score, services.scoring.score_getter);
    default: the stored ``lead_score``."""
    zone = ZoneInfo(tz)

    def build(n: Node) -> Matcher:
        if isinstance(n, And):
            fs = [build(c) for c in n.and_]
            return lambda c, now: all(f(c, now) for f in fs)
        if isinstance(n, Or):
            fs = [build(c) for c in n.or_]
            return lambda c, now: any(f(c, now) for f in fs)
        if isinstance(n, Not):
            f = build(n.not_)
            return lambda c, now: not f(c, now)
        if lead_score is not None and n.field == "lead_score":
            test = _value_test(n.op, n.value, lambda score: score)  # applied to the score, not the contact
            return lambda c, now: test(lead_score(c, now), now)
        return _condition_matcher(n, zone)
    return build(node.root if isinstance(node, Segment) else node)


def matches(node: Node | Segment, contact: Contact, now: datetime, tz: str = "Europe/Prague",
            lead_score: Callable[[Contact, datetime], Any] | None = None) -> bool:
    """Does the contact belong to the segment? For many contacts use ``compile_segment`` once instead."""
    return compile_segment(node, tz, lead_score)(contact, now)


# ------------------------------------------------------------------ the text form

_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
                    r"|(?P<word>[^\W\d][\w-]*(?:\.[\w-]+)*)|(?P<symbol>>=|<=|!=|==|[=<>()\[\],.])")
_QUOTES = {'"': '"', "'": "'", "„": "“", "“": "”"}  # "…", '…' and Czech „…“ (as Word or Outlook type them)
_SYMBOL_OPS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_WORD_OPS = {"in": "in", "contains": "contains", "exists": "exists", "has": "has", "any": "has_any",
             "all": "has_all", "none": "none", "within": "within_days", "older": "older_than_days",
             "before": "before", "after": "after", "between": "between"}
_TEXT_OPS = {**{v: k for k, v in _SYMBOL_OPS.items() if k != "=="}, **{v: k for k, v in _WORD_OPS.items()},
             "older_than_days": "older than"}
_SET_FIELDS = ("tag", "category", "deal_status", "deal_loss_reason")  # `= x` means has, `in [...]` has_any
_BARE_VALUE_FIELDS = ("lifecycle", "deal_status", "last_activity")  # enum values and dates print unquoted
_BARE_NAME = re.compile(r"[\w-]+(?:\.[\w-]+)*")


class _Token(NamedTuple):
    kind: str  # word, string, number, date, symbol, end
    text: str
    value: Any
    pos: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos] in _QUOTES:
            close, chars, i = _QUOTES[text[pos]], [], pos + 1
            while i < len(text) and text[i] != close:
                i += 1 if text[i] == "\\" and i + 1 < len(text) else 0  # a backslash escapes the next character
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise _error(text, pos, f"this text has no closing {close}")
            out.append(_Token("string", text[pos:i + 1], "".join(chars), pos))
            pos = i + 1
            continue
        if not (m := _TOKEN.match(text, pos)):
            raise _error(text, pos, f"unexpected character '{text[pos]}'")
        kind, tok = m.lastgroup or "", m.group()
        if kind == "number":
            out.append(_Token(kind, tok, float(tok) if any(ch in tok for ch in ".eE") else int(tok), pos))
        elif kind != "ws":
            out.append(_Token(kind, tok, tok, pos))
        pos = m.end()
    return [*out, _Token("end", "", None, len(text))]


def _error(text: str, pos: int, message: str) -> SegmentError:
    line_start = text.rfind("\n", 0, pos) + 1
    return SegmentError(message, line=text.count("\n", 0, pos) + 1, column=pos - line_start + 1)


def _forms(key: str) -> str:
    """How the ops of a field are written, e.g. "a value, has, any or all" for tag."""
    forms = list(dict.fromkeys(_TEXT_OPS[op] for op in FIELDS[key]))
    if key in _SET_FIELDS and key != "deal_status":
        forms.insert(0, "a value")
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def _shown(t: _Token) -> str:
    return "end of text" if t.kind == "end" else f"'{t.text}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.i, self.nesting, self.count = text, _tokens(text), 0, 0, 0

    def next(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def keyword(self, *words: str) -> bool:
        t = self.tokens[self.i]
        if (t.kind == "word" and t.text.lower() in words) or (t.kind == "symbol" and t.text in words):
            self.i += 1
            return True
        return False

    def fail(self, t: _Token, message: str) -> SegmentError:
        return _error(self.text, t.pos, message)

    def expr(self) -> Node:
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(or_=items)

    def term(self) -> Node:
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else And(and_=items)

    def factor(self) -> Node:
        start = self.tokens[self.i]
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.fail(start, f"the segment is nested too deeply (more than {MAX_DEPTH} levels)")
        try:
            if self.keyword("not"):
                return Not(not_=self.factor())
            if self.keyword("("):
                node = self.expr()
                if not self.keyword(")"):
                    t = self.tokens[self.i]
                    raise self.fail(t, f"expected ')' to close the '(' of column {start.pos + 1}, found {_shown(t)}")
                return node
            return self.condition()
        finally:
            self.nesting -= 1

    def condition(self) -> Node:
        t = self.next()
        if t.kind != "word" or t.text.lower() in ("and", "or", "not"):
            raise self.fail(t, f"expected a condition such as tag \"VIP\" or lead_score >= 50, found {_shown(t)}")
        field = t.text
        if t.text.lower() in ("custom", "company") and self.keyword("."):
            name = self.next()
            if name.kind not in ("string", "word"):
                raise self.fail(name, f"expected a field name after '{t.text}.', e.g. {t.text}.\"Důvod ztráty\"")
            field = f"{t.text}.{name.value}"
        try:
            key, _ = field_key(field)
        except SegmentError as e:
            raise self.fail(t, str(e)) from None
        op_token = self.tokens[self.i]
        op, value, label = self.operation(field, key)
        if key in _SET_FIELDS and op in ("eq", "in"):
            op = "has" if op == "eq" else "has_any"
        if op not in FIELDS[key]:
            raise self.fail(op_token, f"'{label}' is not allowed for field '{field}' (allowed: {_forms(key)})")
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise self.fail(t, f"the segment has too many conditions (more than {MAX_CONDITIONS})")
        try:
            field, op, value = check_condition(field, op, value, op_label=f"'{label}'")
        except SegmentError as e:
            raise self.fail(op_token, str(e)) from None
        return Condition.model_construct(field=field, op=op, value=value)

    def operation(self, field: str, key: str) -> tuple[str, Any, str]:
        """The op, its value and how the op was written (for messages)."""
        t = self.next()
        word = t.text.lower() if t.kind == "word" else None
        if t.kind == "symbol" and t.text in _SYMBOL_OPS:
            return _SYMBOL_OPS[t.text], self.value(t.text), t.text
        if word in ("in", "any", "all"):
            return _WORD_OPS[word], self.list_value(word), word
        if word == "exists":
            return "exists", None, word
        if word in ("within", "older"):
            if word == "older" and not self.keyword("than"):
                raise self.fail(self.tokens[self.i], "expected 'than' after 'older', e.g. older than 180 days")
            label = "older than" if word == "older" else word
            days = self.value(label)
            if not self.keyword("days", "day"):
                raise self.fail(self.tokens[self.i], f"expected 'days' after {days}, e.g. {label} 30 days")
            return _WORD_OPS[word], days, label
        if word == "between":
            low = self.value("between")
            if not self.keyword("and"):
                raise self.fail(self.tokens[self.i], f"expected 'and' after 'between {low}', e.g. between 20 and 80")
            return "between", [low, self.value("and")], word
        if word in _WORD_OPS:
            return _WORD_OPS[word], self.value(word), word
        if t.kind in ("string", "number", "date") or (t.kind == "word" and word not in ("and", "or", "not")):
            self.i -= 1  # a bare value: tag "VIP"
            return "has", self.value(field), "has"
        raise self.fail(t, f"expected {_forms(key)} after '{field}', found {_shown(t)}")

    def value(self, after: str) -> Any:
        t = self.next()
        if t.kind in ("string", "number", "date"):
            return t.value
        if t.kind == "word" and t.text.lower() not in ("and", "or", "not"):
            return {"true": True, "false": False}.get(t.text.lower(), t.text)
        raise self.fail(t, f"expected a value after '{after}', found {_shown(t)}")

    def list_value(self, after: str) -> list[Any]:
        if not self.keyword("["):
            raise self.fail(self.tokens[self.i], f"expected a list after '{after}', e.g. {after} [\"A\", \"B\"]")
        items: list[Any] = []
        while not self.keyword("]"):
            items.append(self.value("[" if not items else ","))
            if not self.keyword(",") and (t := self.tokens[self.i]).text != "]":
                raise self.fail(t, f"expected ',' or ']' in the list, found {_shown(t)}")
        return items


def parse_query(text: str) -> Node:
    """The text form -> a validated, normalised tree. Raises SegmentError with the line and column."""
    parser = _Parser(text)
    node = parser.expr()
    if (t := parser.tokens[parser.i]).kind != "end":
        raise parser.fail(t, f"expected 'and', 'or' or the end of the text, found {_shown(t)}")
    node = normalize(node)
    if _depth(node) > MAX_DEPTH:
        raise SegmentError(f"the segment is nested too deeply (more than {MAX_DEPTH} levels)")
    return node


def to_query(node: Node | Segment) -> str:
    """The canonical text form; ``parse_query(to_query(n)) == normalize(n)``."""
    return _print(node.root if isinstance(node, Segment) else node, 0)


def _print(node: Node, outer: int) -> str:  # precedence: 0 top, 1 or, 2 and, 3 not
    if isinstance(node, Not):
        return f"not {_print(node.not_, 3)}"
    if isinstance(node, And | Or):
        prec = 2 if isinstance(node, And) else 1
        text = (" and " if prec == 2 else " or ").join(_print(c, prec) for c in _members(node))
        return f"({text})" if outer > prec else text
    field, op, v = node.field, node.op, node.value
    prefix, dot, name = field.partition(".")
    shown_field = field if not dot or _BARE_NAME.fullmatch(name) else f"{prefix}.{_literal(name, '')}"
    if op == "has" and field != "deal_status":
        return f"{shown_field} {_literal(v, field)}"
    if op == "exists":
        return f"{shown_field} exists"
    if op == "between":
        return f"{shown_field} between {_literal(v[0], field)} and {_literal(v[1], field)}"
    shown = f"[{', '.join(_literal(x, field) for x in v)}]" if isinstance(v, list) else _literal(v, field)
    return f"{shown_field} {_TEXT_OPS[op]} {shown}" + (" days" if op.endswith("_days") else "")


def _literal(v: Any, field: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if field in _BARE_VALUE_FIELDS:
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
