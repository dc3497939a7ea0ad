"""Hypothesis strategies for HTTP requests to one route: schema-valid bodies from the OpenAPI documents, mixed with
hostile input (invalid JSON, wrong content types, binary/base64 bodies, huge strings, control characters, deep
nesting, wrong types, missing and extra fields, odd path parameters and query strings, missing or forged
credentials, duplicate submissions)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.fuzz.schema_values import from_schema

PARAM = re.compile(r"\{([^}+]+)\+?\}")


@dataclass(frozen=True)
class RouteSpec:
    """One ``Type: HttpApi`` event of the template."""

    function: str
    method: str
    path: str
    auth: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)


@dataclass
class Case:
    kind: str
    method: str
    path: str  # raw (percent-encoded) path
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    repeat: int = 1  # a duplicate submission sends the same request again
    source_ip: str = "127.0.0.1"
    sign: str | None = None  # a signed route: how to sign at send time (None: the harness' default mix)

    def describe(self, limit: int = 600) -> str:
        body = self.body if self.body is None or len(self.body) <= limit else \
            self.body[:limit] + f"... ({len(self.body)} bytes)".encode()
        path = self.path if len(self.path) <= limit else self.path[:limit] + f"... ({len(self.path)} chars)"
        query = self.query if len(self.query) <= limit else self.query[:limit] + "..."
        return (f"{self.kind}: {self.method} {path}{'?' + query if query else ''} from {self.source_ip} "
                f"headers={self.headers!r} "
                f"body={body!r}{' x' + str(self.repeat) if self.repeat > 1 else ''}"
                f"{' sign=' + self.sign if self.sign else ''}")


# --------------------------------------------------------------------------------------------- the world's ids


class Pools:
    """Ids the fuzzer knows exist (seeded, and collected from 2xx responses), by parameter or field name."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}
        self.emails: list[str] = []

    def add(self, name: str, value: Any, limit: int = 300) -> None:
        if not isinstance(value, str) or not value:
            return
        values = self.ids.setdefault(name, [])
        if value not in values:
            values.append(value)
            if len(values) > limit:
                del values[len(values) // 2]  # keep the seeded ones at the front

    def pick(self, name: str, index: int, scope: str = "") -> str | None:
        values = self.ids.get(f"{scope}:{name}") or self.ids.get(name) or []
        return values[index % len(values)] if values else None


# --------------------------------------------------------------------------------------------- hostile values

HOSTILE_STRINGS = [
    "", " ", "\x00", "a\x00b", "\r\n", "\t", "\x7f", "\u202e", "\ufeff", "\ud7ff", "\U0001f600" * 3, "null", "None",
    "true", "0", "-1", "1e309", "NaN", "Infinity", "[]", "{}", "'", '"', "' OR '1'='1", "<script>alert(1)</script>",
    "{{7*7}}", "${jndi:ldap://x}", "../../etc/passwd", "..", ".", "%2F", "%00", "%", "a/b", "a\\b", "RATE#1", "META",
    "CHUNK#1", "#", "|", "a|b|c", "c-00000000000000000000", "x" * 129, "x" * 5000, "Ž" * 300, "日本語",
    "JANA.NOVAKOVA@EXAMPLE.CZ", "jana+tag@example.cz", "@", "a@b", "a@b.c", "a..b@example.cz", "\u0000@example.cz",
    "jana@exam ple.cz", "jana@xn--80ak6aa92e.com", "jana@[127.0.0.1]", "\"quoted\"@example.cz",
]

control_text = st.text(alphabet=st.characters(max_codepoint=0x20), min_size=1, max_size=30)
unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
huge_text = st.sampled_from([10_000, 70_000]).map(lambda n: "Ž" * n)
hostile_text = st.one_of(st.sampled_from(HOSTILE_STRINGS), control_text, unicode_text, huge_text)
short_hostile_text = st.one_of(st.sampled_from(HOSTILE_STRINGS), control_text, unicode_text)  # URLs stay < 10 KB


def deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


hostile_json_value = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e308, -1e308, 1e-320, float("nan"), float("inf"), -0.0, 0.1]),
    hostile_text, st.lists(st.integers(), max_size=5), st.dictionaries(unicode_text, st.integers(), max_size=3),
    st.sampled_from([deep(40, "list"), deep(40, "dict"), deep(120, "dict")]),
    st.lists(st.just("x"), min_size=150, max_size=150),
)

VALID_EMAILS = ["jana.novakova@example.cz", "JANA.Novakova@Example.CZ", "jana.novakova+news@example.cz",
                "petr@example.com", "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com",
                "zdenek.kral@seznam.cz", "Ølaf@example.no", "ops@xn--bcher-kva.example"]


def email_values(pools: Pools) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(VALID_EMAILS),
        st.integers(0, 10**6).map(lambda n: pools.emails[n % len(pools.emails)] if pools.emails else VALID_EMAILS[0]),
        st.from_regex(r"\A[a-z]{1,8}(\+[a-z0-9]{1,4})?@(example\.cz|Example\.COM|firma\.cz)\Z"),
        st.sampled_from(HOSTILE_STRINGS),
    )


# --------------------------------------------------------------------------------------------- bodies

SCALE = ["Vysoká spokojenost", "Spokojenost", "Neutrální", "Nespokojenost", "Vysoká nespokojenost",
         "vysoka nespokojenost", "  NESPOKOJENOST ", "Very dissatisfied", "unknown"]
SEGMENT_QUERIES = ['tag "Newsletter"', "lifecycle = former_customer", 'not tag "VIP"', "lifecycle =", "(((",
                   'custom."Důvod ztráty" = "A" and deal_loss_reason "B"']


@lru_cache(maxsize=None)
def _schema_strategy(schema_json: str, components_json: str) -> st.SearchStrategy[Any]:
    return from_schema(json.loads(schema_json), {"components": json.loads(components_json)})


def schema_strategy(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _schema_strategy(json.dumps(schema, sort_keys=True), json.dumps(components, sort_keys=True))


@st.composite
def realistic(draw: st.DrawFn, value: Any, pools: Pools, name: str = "") -> Any:
    """A schema-valid value with some fields made to look like real data (known ids, real e-mails, the scale)."""
    if isinstance(value, dict):
        return {k: draw(realistic(v, pools, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [draw(realistic(v, pools, name)) for v in value]
    if draw(st.integers(0, 9)) < 1:
        return value
    if name.endswith("_id") or name in ("owner", "sender"):
        known = pools.pick(name if name.endswith("_id") else "owner", draw(st.integers(0, 10**6)))
        return known if known is not None else value
    if name == "email":
        return draw(email_values(pools))
    if name == "satisfaction":
        return draw(st.sampled_from(SCALE))
    if name == "template":
        return draw(st.sampled_from(["newsletter", "winback_feature_a", "missing", "unsubscribe_page"]))
    if name == "segment_query":
        return draw(st.sampled_from(SEGMENT_QUERIES))
    return value


@st.composite
def coherent(draw: st.DrawFn, value: Any, path_values: dict[str, str], properties: frozenset[str] = frozenset()) -> Any:
    """Mostly make the cross-field rules of a valid body hold: one of `segment`/`segment_query`, a `confirm` that
    repeats the id in the path."""
    if not isinstance(value, dict) or draw(st.integers(0, 9)) < 3:
        return value
    value = dict(value)
    if "segment" in value and "segment_query" in value:
        value.pop(draw(st.sampled_from(["segment", "segment_query"])))
    elif {"segment", "segment_query"} <= properties and "segment" not in value and "segment_query" not in value:
        value["segment_query"] = draw(st.sampled_from(SEGMENT_QUERIES))
    if "confirm" in value and path_values:
        value["confirm"] = next(iter(path_values.values()))
    return value


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """One change that makes a valid body wrong: a field missing, an extra one, a wrong type or a hostile value."""
    if not isinstance(value, dict) or not value:
        return draw(hostile_json_value)
    value = dict(value)
    key = draw(st.sampled_from(sorted(value)))
    how = draw(st.sampled_from(["drop", "extra", "wrong", "wrong", "null_body_field", "nested"]))
    if how == "drop":
        value.pop(key)
    elif how == "extra":
        value[draw(st.one_of(unicode_text, st.sampled_from(["__proto__", "version", "contact_id", "erased"])))] = \
            draw(hostile_json_value)
    elif how == "wrong":
        value[key] = draw(hostile_json_value)
    elif how == "null_body_field":
        value[key] = None
    else:
        value[key] = {"$ne": None, "nested": value.get(key)}
    return value


def _flatten_form(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("value", json.dumps(value))]
    pairs = []
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            pairs.append((str(k), json.dumps(v, ensure_ascii=False)))
        elif isinstance(v, bool):
            pairs.append((str(k), "on" if v else ""))
        else:
            pairs.append((str(k), "" if v is None else str(v)))
    return pairs


def _multipart(value: Any) -> tuple[bytes, str]:
    boundary = "----fuzzboundary7MA4YWxkTrZu0gW"
    parts = []
    for k, v in _flatten_form(value):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n')
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("utf-8", "surrogatepass"), f"multipart/form-data; boundary={boundary}"


def _csv(value: Any) -> bytes:
    pairs = _flatten_form(value)
    head = ",".join(k for k, _ in pairs)
    row = ",".join('"' + v.replace('"', '""') + '"' for _, v in pairs)
    return f"{head}\n{row}\n".encode("utf-8", "surrogatepass")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def encoded_body(draw: st.DrawFn, value: Any) -> tuple[bytes, str | None, str]:
    """The value sent as JSON, or as another content type, or as something that is not the value at all."""
    how = draw(st.sampled_from([
        "json", "json", "json", "json-charset", "no-content-type", "urlencoded", "multipart", "csv", "text",
        "octet", "base64-text", "invalid-json", "truncated-json", "binary", "deep-json", "huge-json", "bom-json",
        "latin1-json", "duplicate-keys", "empty",
    ]))
    body = _dumps(value)
    if how == "json":
        return body, "application/json", how
    if how == "json-charset":
        return body, draw(st.sampled_from(["application/json; charset=utf-8", "APPLICATION/JSON",
                                           "application/vnd.api+json", "application/json;charset=utf-16"])), how
    if how == "no-content-type":
        return body, None, how
    if how == "urlencoded":
        return urlencode(_flatten_form(value)).encode(), "application/x-www-form-urlencoded", how
    if how == "multipart":
        data, ctype = _multipart(value)
        return data, ctype, how
    if how == "csv":
        return _csv(value), "text/csv", how
    if how == "text":
        return body, "text/plain", how
    if how == "octet":
        return body, "application/octet-stream", how
    if how == "base64-text":
        import base64

        return base64.b64encode(body), "application/json", how
    if how == "invalid-json":
        return draw(st.sampled_from([b"{", b"}", b"{'a': 1}", b"[1,]", b"nul", b"\"unterminated", b"{\"a\":}",
                                     b"NaN", b"1e99999", b"{\"a\": 1} trailing", b"\x00", b"{\"\\ud800\": 1}"])), \
            "application/json", how
    if how == "truncated-json":
        cut = draw(st.integers(0, max(0, len(body) - 1)))
        return body[:cut], "application/json", how
    if how == "binary":
        return draw(st.binary(min_size=1, max_size=300)), draw(st.sampled_from(
            ["application/json", "application/octet-stream", "image/png", "application/x-www-form-urlencoded"])), how
    if how == "deep-json":
        depth = draw(st.sampled_from([100, 1_000, 10_000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode(), "application/json", how
    if how == "huge-json":
        return _dumps({"x": "a" * draw(st.sampled_from([100_000, 300_000]))} if not isinstance(value, dict)
                      else {**value, "zz": "a" * 200_000}), "application/json", how
    if how == "bom-json":
        return b"\xef\xbb\xbf" + body, "application/json", how
    if how == "latin1-json":
        return json.dumps(value, ensure_ascii=False).encode("latin-1", "replace"), "application/json", how
    if how == "duplicate-keys":
        if isinstance(value, dict) and value:
            first = next(iter(value))
            return body[:-1] + b", " + _dumps(first) + b": " + _dumps(draw(hostile_json_value)) + b"}", \
                "application/json", how
        return body, "application/json", how
    return b"", draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded"])), how


# --------------------------------------------------------------------------------------------- paths, queries, auth


def path_value(pools: Pools, name: str, scope: str = "") -> st.SearchStrategy[tuple[str, bool]]:
    """(value, raw): raw values go into the path as they are, the others percent-encoded. `scope` (the path's first
    segment) picks a route's own pool first, e.g. the unsubscribe and the consent tokens."""
    known = st.integers(0, 10**6).map(lambda i: pools.pick(name, i, scope)).filter(lambda v: v is not None)
    tampered = known.flatmap(lambda v: st.sampled_from([v[:-1], v + "x", v.upper(), v[:-2] + v[-1:] + v[-2:-1],
                                                        v + "%00", " " + v, v + "/", v.replace(".", "")]))
    plain = st.from_regex(r"\A[A-Za-z0-9._:@-]{1,40}\Z")
    return st.one_of(
        known.map(lambda v: (v, False)), known.map(lambda v: (v, False)), tampered.map(lambda v: (v, False)),
        plain.map(lambda v: (v, False)),
        st.sampled_from([h for h in HOSTILE_STRINGS if h not in ("", ".", "..")]).map(lambda v: (v, False)),
        unicode_text.filter(bool).map(lambda v: (v, False)),
        st.sampled_from(["%2F", "%2e%2e", "a%2Fb", "%zz", "%", "%00", "%C0%AF", "%E2%80%AE", "x" * 8000,
                         "c-1;DROP", "%252F", "..%2F..%2F"]).map(lambda v: (v, True)),
    )


def encode_path(route: RouteSpec, values: dict[str, tuple[str, bool]]) -> str:
    def sub(match: re.Match[str]) -> str:
        value, raw = values[match.group(1)]
        if raw:
            return value
        encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
        return encoded or "x"

    return PARAM.sub(sub, route.path)


def query_strategy(params: list[dict[str, Any]], components: dict[str, Any], pools: Pools) -> st.SearchStrategy[str]:
    named = []
    for param in params:
        name = param["name"]
        value = st.one_of(schema_strategy(param.get("schema") or {}, components).map(_plain),
                          st.integers(0, 10**6).map(lambda i, n=name: pools.pick(n if n.endswith("_id") else "owner",
                                                                                  i) or "x"),
                          short_hostile_text)
        named.append(st.tuples(st.just(name), value))
    pairs = st.lists(st.one_of(*named), max_size=4) if named else st.just([])
    extra = st.lists(st.tuples(st.sampled_from(["lang", "redirect", "next", "utm_source", "a", "", "callback"]),
                               st.one_of(st.sampled_from(["cs", "en", "EN", "de", "https://evil.example/",
                                                          "javascript:alert(1)"]), short_hostile_text)), max_size=3)
    raw = st.sampled_from(["", "&&", "=", "a=%zz", "a=1&a=2&a=3", "%00=%00", "lang", "lang=en&lang=cs", "x" * 5000])

    def build(p: list[tuple[str, str]], e: list[tuple[str, str]], r: str) -> str:
        text = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in p + e])
        return "&".join(filter(None, [text, r]))

    return st.builds(build, pairs, extra, raw)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else json.dumps(value)


SIGNATURE_HEADERS = ["x-signature", "x-hub-signature-256", "x-chatbot-signature", "x-webhook-signature",
                     "x-signature-timestamp", "x-timestamp"]


def headers_strategy(route: RouteSpec, token: str) -> st.SearchStrategy[tuple[dict[str, str], str]]:
    """(headers, auth kind). IAM routes mostly get the right token; every route gets odd extra headers."""
    good = {"authorization": f"Bearer {token}"}
    auth = st.sampled_from([
        *[("good", good)] * 24, ("missing", {}), ("forged", {"authorization": "Bearer forged-token"}),
        ("forged", {"authorization": f"Basic {token}"}), ("forged", {"authorization": "Bearer "}),
        ("forged", {"authorization": f"Bearer {token}x"}),
    ])
    header_value = st.one_of(st.sampled_from(["", "en-US,en;q=0.9", "cs", "sha256=" + "0" * 64, "0" * 64,
                                              "1700000000", "t=1,v1=abc", "\u00e9", "x" * 9000]),
                             st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80))
    extra = st.dictionaries(
        st.sampled_from(["accept-language", "x-forwarded-for", "user-agent", "cookie", "referer", "origin",
                         "content-encoding", "idempotency-key", *SIGNATURE_HEADERS]),
        header_value, max_size=3)

    def build(a: tuple[str, dict[str, str]], e: dict[str, str]) -> tuple[dict[str, str], str]:
        return {**e, **a[1]}, a[0]

    return st.builds(build, auth, extra)


source_ips = st.one_of(st.just("127.0.0.1"), st.ip_addresses().map(str),
                       st.sampled_from(["203.0.113.7", "2001:db8::1", "10.0.0.1"]))


GENERIC_FIELDS = ["email", "first_name", "last_name", "name", "phone", "company", "message", "consent", "marketing",
                  "website", "honeypot", "utm_source", "utm_medium", "utm_campaign", "page_url", "event", "type",
                  "conversation_id", "intent", "contact", "text_version", "purpose", "granted", "form_id", "redirect"]


def generic_body(pools: Pools) -> st.SearchStrategy[Any]:
    """For routes without a schema: lead-like objects (some plausible, some not) and arbitrary JSON."""
    field_value = st.one_of(email_values(pools), unicode_text, st.booleans(), st.none(), st.integers(),
                            st.dictionaries(st.sampled_from(GENERIC_FIELDS), unicode_text, max_size=3))
    return st.one_of(
        st.fixed_dictionaries({"email": email_values(pools)},
                              optional={k: field_value for k in GENERIC_FIELDS if k != "email"}),
        st.dictionaries(st.sampled_from(GENERIC_FIELDS), field_value, max_size=8),
        hostile_json_value,
    )
