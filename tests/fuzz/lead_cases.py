"""Realistic traffic for the public and import lead routes, which generic bodies hardly ever get past validation:
signed chatbot events (`POST /chatbot/events`), lead form submissions (`POST /forms/{form_id}`) and CSV contact
imports (`POST /imports/contacts`), each mostly valid (so the upsert, consent and dedupe paths run) with a share of
hostile variants of the same realistic request (docs/leads.md#forms, #chatbot, #importing-lists).

Each strategy draws a `Case` (kind ``valid`` for a request meant to be accepted, ``lead-hostile/<how>`` else).
Chatbot cases carry `Case.sign`: how the harness signs the body at send time (``good``, ``stale``, ``future``,
``wrong-secret``, ``other-body``, ``none``)."""

from __future__ import annotations

import json
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.fuzz.cases import HOSTILE_STRINGS, Case, Pools, hostile_json_value, short_hostile_text

# addresses the seed suppresses or knows (unsubscribed, bounce simulator, an erased/unsubscribe-token address)
SEEDED_EMAILS = ["jana.novakova@example.cz", "JANA.NOVAKOVA@EXAMPLE.CZ", "jana.novakova+novinky@example.cz",
                 "petr@example.com", "Zdenek.Kral@Seznam.cz", "zdenek.kral@seznam.cz",
                 "bounce@simulator.amazonses.com", "complaint@simulator.amazonses.com", "gone@example.cz",
                 "marie.dvorakova@example.cz"]
FIRST = ["Jana", "Petr", "Tomáš", "Karolína", "Zdeněk", "Ondřej", "Lenka", "Marie", "Jan", "Ølaf",
         "O'Brien"]
LAST = ["Nováková", "Svoboda", "Král", "Bartošová", "Kolář", "Bláha", "Sýkorová", "Dvořák",
        "Müller-Lüdenscheid"]
COMPANIES = ["Pekárna Král s.r.o.", "Květiny Růžička", "Stavby Bláha a.s.", "ACME \"Quotes\" Ltd.", "Firma; s.r.o."]
PHONES = ["+420 602 111 222", "602111222", "+44 20 7946 0958", "(+420) 777-888-999"]
INTENTS = ["pricing", "demo", "support", "cenik", "objednávka", "callback"]
TEXTS = ["Kolik stojí verze Pro?", "Chci demo pro 5 uživatelů.\nDíky", "<b>hi</b>", "Zavolejte mi prosím zítra.",
         "x" * 4000, "😀 emoji"]
_SERIAL = itertools.count(1)  # fresh ids stay fresh (Hypothesis draws 0 and other small integers often)
PAGES = ["https://www.example.cz/cenik?utm_source=google&utm_medium=cpc&utm_campaign=jaro",
         "https://www.example.cz/kontakt", "http://localhost:8080/form", "https://www.example.cz/?utm_source=%00"]


@st.composite
def _email(draw: st.DrawFn, pools: Pools) -> str:
    how = draw(st.integers(0, 9))
    if how < 3:
        known = SEEDED_EMAILS + pools.emails
        return known[draw(st.integers(0, 10**6)) % len(known)]
    local = draw(st.from_regex(r"\A[a-z]{2,8}(\.[a-z]{2,8})?\Z"))
    if how in (5, 6):
        local += draw(st.sampled_from(["+news", "+tag1", "+ß"]))
    domain = draw(st.sampled_from(["example.cz", "Example.COM", "firma.cz", "seznam.cz"]))
    email = f"{local}@{domain}"
    return email.upper() if how == 4 else email


def _person(draw: st.DrawFn, pools: Pools, *, optional: bool = True) -> dict[str, Any]:
    person: dict[str, Any] = {"email": draw(_email(pools))}
    for name, values in (("first_name", FIRST), ("last_name", LAST), ("company", COMPANIES), ("phone", PHONES)):
        if not optional or draw(st.booleans()):
            person[name] = draw(st.sampled_from(values))
    return person


def _hostile_value() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(HOSTILE_STRINGS), hostile_json_value)


# --------------------------------------------------------------------------------------------- the chatbot

def chatbot_cases(pools: Pools, now: Callable[[], datetime]) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        conversations = pools.ids.setdefault("chat:conversation_id", [])
        events = pools.ids.setdefault("chat:event_id", [])
        # the same draws whatever the pools hold (Hypothesis refuses generation that depends on outside state)
        known, index, fresh = draw(st.integers(0, 9)) < 6, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**9))
        if known and conversations:
            conversation = conversations[index % len(conversations)]
        else:
            conversation = f"conv-{next(_SERIAL)}-{fresh}"
            pools.add("chat:conversation_id", conversation, limit=50)
        replay, index, fresh = draw(st.integers(0, 9)) == 0, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**12))
        replay = replay and bool(events)
        event_id = events[index % len(events)] if replay else f"evt-{next(_SERIAL)}-{fresh}"
        kind = draw(st.sampled_from(["conversation.started", "contact.provided", "contact.provided",
                                     "intent.expressed"]))
        if kind == "conversation.started":
            data: dict[str, Any] = {k: v for k, v in (("page_url", draw(st.sampled_from(PAGES))),
                                                      ("utm_source", draw(st.sampled_from(["google", "fb", ""]))),
                                                      ("widget", "v2")) if v and draw(st.booleans())}
        elif kind == "contact.provided":
            data = _person(draw, pools)
            if draw(st.booleans()):
                data["consent_marketing"] = draw(st.booleans())
                if data["consent_marketing"] and draw(st.booleans()):
                    data["consent_text_version"] = "chatbot-2026-01"
        else:
            data = {"intent": draw(st.sampled_from(INTENTS))}
            if draw(st.booleans()):
                data["text"] = draw(st.sampled_from(TEXTS))
        offset = draw(st.sampled_from([0, -5, -60, -3600, -86400 * 3, 30, 600]))
        occurred = (now() + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
        event: Any = {"event_id": event_id, "type": kind, "conversation_id": conversation, "occurred_at": occurred,
                      "data": data}
        how, sign = "valid", "good"
        if draw(st.integers(0, 19)) >= 15:  # hostile: about 20 % (Hypothesis draws 0 often)
            how = draw(st.sampled_from(["unsigned", "stale", "future", "wrong-secret", "other-body", "field",
                                        "data-field", "type", "extra", "not-json", "huge", "array"]))
            if how in ("unsigned", "stale", "future", "wrong-secret", "other-body"):
                sign = {"unsigned": "none"}.get(how, how)
            elif how == "field":
                event[draw(st.sampled_from(sorted(event)))] = draw(_hostile_value())
            elif how == "data-field":
                event["data"][draw(st.sampled_from(["email", "intent", "text", "page_url", "phone",
                                                    "consent_marketing", "first_name"]))] = draw(_hostile_value())
            elif how == "type":
                event["type"] = draw(st.sampled_from(["contact.deleted", "", "CONTACT.PROVIDED", None]))
            elif how == "extra":
                event[draw(st.sampled_from(["contact_id", "__proto__", "signature"]))] = "c-fuzz-1"
            elif how == "huge":
                event["data"]["text"] = "Ž" * 40_000
            elif how == "array":
                event = [event]
        body = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass") if how != "not-json" else \
            draw(st.sampled_from([b"{", b"", b"\xff\xfe{}", b"event_id=1"]))
        if how == "valid" and not replay:
            pools.add("chat:event_id", event_id, limit=200)
        return Case("valid" if how == "valid" else f"lead-hostile/{how}", "POST", "/chatbot/events",
                    headers={"content-type": "application/json", "user-agent": "chatbot/1.0"}, body=body,
                    repeat=2 if draw(st.integers(0, 9)) == 0 else 1, source_ip=_ip(draw), sign=sign)

    return build()


def _ip(draw: st.DrawFn) -> str:
    return f"198.51.{draw(st.integers(0, 255))}.{draw(st.integers(1, 254))}"


# --------------------------------------------------------------------------------------------- lead forms

FORM_IDS = ["kontakt"]  # LeadForms' default in template.yaml (the emulation runs the defaults)


def form_cases(pools: Pools) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        form_id = draw(st.sampled_from(FORM_IDS)) if draw(st.integers(0, 9)) < 9 else \
            draw(st.sampled_from(["newsletter", "KONTAKT", "kontakt ", "x" * 300]))
        fields: dict[str, Any] = _person(draw, pools)
        if draw(st.booleans()):
            fields["message"] = draw(st.sampled_from(TEXTS))
        if draw(st.booleans()):
            fields["consent_marketing"] = draw(st.sampled_from(["on", "ano", "1", "", "off", True, False]))
        for key in ("utm_source", "utm_medium", "utm_campaign"):
            if draw(st.integers(0, 3)) == 0:
                fields[key] = draw(st.sampled_from(["google", "newsletter", "jaro-2026", "Ž" * 50]))
        if draw(st.booleans()):
            fields["page_url"] = draw(st.sampled_from(PAGES))
        if draw(st.integers(0, 3)) == 0:
            fields["submission_id"] = f"sub-{draw(st.integers(0, 50))}"
        html = draw(st.integers(0, 3)) == 0
        if html and draw(st.booleans()):
            fields["redirect"] = "https://www.example.cz/dekujeme"
        how = "valid"
        if draw(st.integers(0, 19)) >= 15:  # hostile: about 20 % (Hypothesis draws 0 often)
            how = draw(st.sampled_from(["honeypot", "bad-email", "field", "unknown-field", "open-redirect",
                                        "content-type", "not-utf8", "too-large", "too-many", "json-array",
                                        "control-chars"]))
            if how == "honeypot":
                fields["website"] = "http://spam.example"
            elif how == "bad-email":
                fields["email"] = draw(st.sampled_from(["pavel.horak@seznam", "", "@", "a b@example.cz",
                                                        "jana@exam ple.cz", "x" * 300 + "@example.cz"]))
            elif how == "field":
                fields[draw(st.sampled_from(sorted(fields)))] = draw(short_hostile_text)
            elif how == "unknown-field":
                fields[draw(st.sampled_from(["contact_id", "owner", "lifecycle", "tags"]))] = "x"
            elif how == "open-redirect":
                fields["redirect"] = draw(st.sampled_from(["https://evil.example/", "javascript:alert(1)",
                                                           "https://www.example.cz\r\nSet-Cookie: a=b"]))
            elif how == "control-chars":
                fields["first_name"] = "Ja\x00na\n"
        as_json = draw(st.integers(0, 2)) == 0
        if as_json:
            body = json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass")
            ctype = draw(st.sampled_from(["application/json", "application/json; charset=utf-8"]))
        else:
            pairs = [(k, "on" if v is True else "" if v is False else str(v)) for k, v in fields.items()]
            body = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs]).encode()
            ctype = draw(st.sampled_from(["application/x-www-form-urlencoded",
                                          "application/x-www-form-urlencoded; charset=UTF-8"]))
        if how == "content-type":
            ctype = draw(st.sampled_from(["text/plain", "multipart/form-data; boundary=x", "", "text/csv"]))
        elif how == "not-utf8":
            body = body.decode("utf-8", "surrogatepass").encode("latin-1", "replace") + b"\xff\xfe"
        elif how == "too-large":
            body += b"&message=" + b"a" * 17_000
        elif how == "too-many":
            body = "&".join(f"f{i}=1" for i in range(80)).encode()
        elif how == "json-array":
            body, ctype = b"[1, 2]", "application/json"
        headers = {"user-agent": "Mozilla/5.0 (fuzz)", "accept": "text/html,application/xhtml+xml" if html else
                   draw(st.sampled_from(["application/json", "*/*", ""]))}
        if ctype:
            headers["content-type"] = ctype
        origin = draw(st.sampled_from([None, None, "https://www.example.cz", "https://evil.example", "null"]))
        if origin:
            headers["origin"] = origin
        if draw(st.integers(0, 4)) == 0:
            headers["referer"] = draw(st.sampled_from(PAGES + ["not a url", "x" * 3000]))
        # a fresh client address per submission (10 submissions a minute per address is the form's limit)
        return Case("valid" if how == "valid" else f"lead-hostile/{how}", "POST",
                    f"/forms/{quote(form_id, safe='')}", headers=headers, body=body,
                    repeat=2 if draw(st.integers(0, 9)) == 0 else 1, source_ip=_ip(draw))

    return build()


# --------------------------------------------------------------------------------------------- CSV imports

HEADERS = {
    "email": ["E-mail", "email", "E-mailová adresa", "EMAIL"], "first_name": ["Jméno", "first_name", "First Name"],
    "last_name": ["Příjmení", "last_name"], "company": ["Firma", "Společnost", "company"],
    "phone": ["Telefon", "tel", "phone"], "tags": ["Štítky", "tags"], "consent": ["Souhlas", "consent"],
    "consent_at": ["Souhlas kdy", "datum_souhlasu", "consent_at"], "text": ["Verze textu", "consent_text_version"],
    "csource": ["Zdroj souhlasu", "consent_source"], "custom": ["custom.poznámka", "vlastni.velikost trička"],
    "owner": ["Vlastník", "owner"],
}
CONSENT_DATES = ["28. 2. 2026 14:30", "2026-03-01", "2026-03-01 10:15", "2026-03-01T10:15:00+01:00", "1. 3. 2026",
                 "31. 2. 2026", "", "2099-01-01", "1899-12-30", "včera"]


def _csv_cell(value: str, delimiter: str) -> str:
    if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def _csv_body(draw: st.DrawFn, pools: Pools) -> bytes:
    delimiter = draw(st.sampled_from([";", ";", ",", "\t"]))
    columns = ["email"] + [c for c in ("first_name", "last_name", "company", "phone", "tags", "consent",
                                       "consent_at", "text", "csource", "custom", "owner") if draw(st.booleans())]
    if draw(st.integers(0, 2)) > 0 and "consent" not in columns:
        columns += ["consent", "consent_at"]
    header = [draw(st.sampled_from(HEADERS[c])) for c in columns]
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        person = _person(draw, pools, optional=False)
        if draw(st.integers(0, 9)) == 0:
            person["email"] = draw(st.sampled_from(["pavel.horak@seznam", "", "not an e-mail", "a@b"]))
        consented = draw(st.integers(0, 9)) < 7
        values = {**person, "tags": draw(st.sampled_from(["Veletrh Brno 2026|Pekárny", "Newsletter", ""])),
                  "consent": draw(st.sampled_from(["ano", "yes", "TRUE", "1"])) if consented else
                  draw(st.sampled_from(["", "ne", "no", "0"])),
                  "consent_at": draw(st.sampled_from(CONSENT_DATES[:5])) if consented and
                  draw(st.integers(0, 9)) < 8 else draw(st.sampled_from(CONSENT_DATES)),
                  "text": "souhlas-2026-01", "csource": "stánek na veletrhu",
                  "custom": draw(st.sampled_from(["", "Zajímá se o verzi Pro;\nzavolat po veletrhu", 'řekl "ano"',
                                                  "XL"])),
                  "owner": draw(st.sampled_from(["", "petr.svoboda", "bad owner!"]))}
        rows.append(delimiter.join(_csv_cell(str(values[c]), delimiter) for c in columns))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join([delimiter.join(_csv_cell(h, delimiter) for h in header), *rows]) + newline
    bom = "\ufeff" if draw(st.integers(0, 3)) == 0 else ""
    return (bom + text).encode("utf-8")


def import_cases(pools: Pools, token: str) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        body = draw(_csv_body(pools))
        query: list[tuple[str, str]] = [("source", draw(st.sampled_from(
            ["veletrh-brno-2026.csv", "webinar-03", "migrace CRM", "Veletrh Brno 2026"])) if draw(st.integers(0, 4))
            else f"list-{next(_SERIAL)}-{draw(st.integers(0, 10**6))}.csv")]
        if draw(st.integers(0, 3)) == 0:
            query.append(("owner", draw(st.sampled_from(["petr.svoboda", "marie.kralova"]))))
        if draw(st.booleans()):
            query.append(("require_consent", draw(st.sampled_from(["true", "false", "false", "0"]))))
        if draw(st.integers(0, 3)) == 0:
            query.append(("dry_run", draw(st.sampled_from(["true", "false", "1"]))))
        if draw(st.integers(0, 4)) == 0:
            query.append(("first_line", str(draw(st.sampled_from([2, 3, 101, 99_999_999])))))
        ctype = draw(st.sampled_from(["text/csv; charset=utf-8", "text/csv", "text/csv; charset=UTF-8",
                                      "application/csv", "text/plain; charset=utf-8"]))
        headers = {"authorization": f"Bearer {token}", "user-agent": "crm-cli/1.0"}
        how = "valid"
        if draw(st.integers(0, 19)) >= 10:  # hostile: about 30 % (Hypothesis draws 0 a third of the time)
            how = draw(st.sampled_from(["no-source", "bad-query", "content-type", "charset", "latin1", "binary",
                                        "unknown-column", "no-header", "unclosed-quote", "huge", "auth", "json"]))
            if how == "no-source":
                query = [q for q in query if q[0] != "source"]
            elif how == "bad-query":
                query.append(draw(st.sampled_from([("first_line", "1"), ("first_line", "x"), ("dry_run", "maybe"),
                                                   ("owner", "bad owner!"), ("source", ""), ("source", "a\x00b"),
                                                   ("source", "x" * 101), ("require_consent", "ano")])))
                query.insert(0, query.pop())  # the bad value first (the first of a repeated parameter wins)
            elif how == "content-type":
                ctype = draw(st.sampled_from(["application/json", "", "multipart/form-data; boundary=x",
                                              "application/octet-stream"]))
            elif how == "charset":
                ctype = "text/csv; charset=windows-1250"
            elif how == "latin1":
                body = body.decode("utf-8").encode("cp1250", "replace")
                if body.isascii():
                    body += "Ž".encode("cp1250") + b"\xff"
            elif how == "binary":
                body = draw(st.binary(min_size=1, max_size=300))
            elif how == "unknown-column":
                lines = body.decode("utf-8").split("\n", 1)
                body = (lines[0] + ";Poznámka" + "\n" + (lines[1] if len(lines) > 1 else "")).encode()
            elif how == "no-header":
                body = draw(st.sampled_from([b"", b"\n\n", "\ufeff".encode(), b";;;\n"]))
            elif how == "unclosed-quote":
                body += b'"neuzav\xc5\x99en\xc3\xa1;x\n'
            elif how == "huge":
                row = "jana@example.cz;Jana;ano;2026-03-01\n"
                body = ("email;first_name;souhlas;souhlas_kdy\n" + row * draw(st.sampled_from([20_000, 120_000])))\
                    .encode()
            elif how == "auth":
                headers.pop("authorization")
            elif how == "json":
                body, ctype = json.dumps({"rows": [{"email": "jana@example.cz"}]}).encode(), "application/json"
        if ctype:
            headers["content-type"] = ctype
        return Case("valid" if how == "valid" else f"lead-hostile/{how}", "POST", "/imports/contacts",
                    urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in query]), headers, body,
                    repeat=2 if draw(st.integers(0, 9)) == 0 else 1)

    return build()


LEAD_ROUTES = ("POST /chatbot/events", "POST /forms/{form_id}", "POST /imports/contacts")


def lead_cases(route_key: str, pools: Pools, token: str, now: Callable[[], datetime]) -> st.SearchStrategy[Case]:
    if route_key == "POST /chatbot/events":
        return chatbot_cases(pools, now)
    if route_key == "POST /forms/{form_id}":
        return form_cases(pools)
    return import_cases(pools, token)

