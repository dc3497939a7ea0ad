"""The leads part of `make demo` (seeds 003 and 004, and GDPR): a web-form lead with a double opt-in, the same
person again in another letter case, a robot caught by the honeypot, a chatbot lead, a lead becoming qualified,
a CSV list import with its report, and an export and erasure that leaves no trace of the person.

Everything goes through the public routes (the sample HTML form's fields, the signed chatbot webhook, the signed
confirmation link) and the authenticated CRM API, as a website, a chatbot vendor and a marketer would use them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from crm_automation.domain.leads import sign
from crm_local.http import ok as _ok

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FORM = ROOT / "docs" / "forms" / "kontakt.html"
SAMPLE_IMPORT = Path(__file__).with_name("sample_import.csv")
FORM_LEAD = {"email": "tereza.vondrackova@pekarna-mlyn.cz", "first_name": "Tereza", "last_name": "Vondráčková",
             "company": "Pekárna U Mlýna", "phone": "+420 603 555 120",
             "message": "Dobrý den, zajímá nás objednávkový systém pro 3 prodejny."}
CHAT_LEAD = {"email": "michal.urban@stavby-urban.cz", "first_name": "Michal", "last_name": "Urban",
             "phone": "+420 731 222 909", "company": "Stavby Urban"}
ERASED_ARRIVING = "Roman.Fiala@example.cz"  # on the imported erasure list (sample_data.ERASED_ADDRESSES)
LEAD_EVENTS = ("lead.captured", "lead.qualified", "consent.changed", "contact.erased")


class _FormFields(HTMLParser):
    """The sample form's action and field names, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        elif tag in ("input", "textarea") and values.get("name"):
            self.fields.append(values["name"] or "")


def _sample_form() -> _FormFields:
    parser = _FormFields()
    parser.feed(SAMPLE_FORM.read_text(encoding="utf-8"))
    return parser


def _post_form(cloud: Any, values: dict[str, str], form: _FormFields, **headers: str) -> Any:
    unknown = set(values) - set(form.fields)
    if unknown:
        raise RuntimeError(f"the sample form has no field {sorted(unknown)}")
    path = "/" + form.action.split("://", 1)[-1].split("/", 1)[1]
    return cloud.http("POST", path, body=urlencode(values), token=None, headers={
        "content-type": "application/x-www-form-urlencoded", "accept": "text/html,application/xhtml+xml",
        "user-agent": "Mozilla/5.0 (demo browser)", "referer": "https://www.example.cz/kontakt"} | headers)


def _contact_by_email(cloud: Any, email: str) -> dict[str, Any] | None:
    wanted = email.lower()
    return next((c for c in _scan(cloud, "ContactsTable") if (c.get("email") or "").lower() == wanted), None)


def _scan(cloud: Any, logical_id: str) -> list[dict[str, Any]]:
    return cloud.items(logical_id)


def _mail_to(cloud: Any, address: str) -> list[Path]:
    return [p for p in cloud.mail_files if address.lower() in p.name.lower()]


def _suppressions(cloud: Any, contact_id: str) -> list[str]:
    """The address-level suppressions of the contact's e-mail, from its GDPR export."""
    exported = _ok(cloud.http("GET", f"/contacts/{contact_id}/export"), "export")
    return sorted((exported.get("address") or {}).get("suppressions") or {})


def _chatbot(cloud: Any, secret: str, event: dict[str, Any], *, forged: bool = False) -> Any:
    body = json.dumps(event, ensure_ascii=False).encode()
    signature = sign("not-the-secret" if forged else secret, body, int(cloud.clock.now().timestamp()))
    return cloud.http("POST", "/chatbot/events", body=body, token=None,
                      headers={"content-type": "application/json", "x-crm-signature": signature})


def _traces(cloud: Any, needles: list[str]) -> int:
    """Items in every table of the template, queue messages and mail files that still hold one of `needles`."""
    needles = [n.lower() for n in needles]
    found = 0
    for logical_id in cloud.template.resources_of_type("AWS::DynamoDB::Table"):
        found += sum(1 for item in _scan(cloud, logical_id)
                     if any(n in json.dumps(item, default=str, ensure_ascii=False).lower() for n in needles))
    for path in cloud.mail_files:
        text = message_from_bytes(path.read_bytes(), policy=policy.default).as_string().lower()
        found += any(n in text or n in path.name.lower() for n in needles)
    return found


def run_leads_story(cloud: Any, note: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    form = _sample_form()
    events_before = Counter(e["detail-type"] for e in cloud.bus_events())

    # 1. A web-form lead with marketing consent, from a newsletter link (UTM), through the sample HTML form
    submitted = _post_form(cloud, FORM_LEAD | {
        "consent_marketing": "ano", "page_url": "https://www.example.cz/kontakt?utm_source=newsletter"
                                                "&utm_medium=email&utm_campaign=jaro-2026"}, form)
    tereza = _contact_by_email(cloud, FORM_LEAD["email"])
    result["form"] = {"status": submitted.status, "contact": tereza}
    note(f"Webový formulář (docs/forms/kontakt.html) → HTTP {submitted.status}: nový lead {tereza['contact_id']}, "
         f"zdroj {tereza['lead_source']}, UTM {tereza['utm'].get('utm_source')}/{tereza['utm'].get('utm_campaign')}; "
         "souhlas s marketingem čeká na potvrzení (double opt-in)")

    # The double opt-in: the confirmation e-mail, its signed link; a GET only shows the page, the POST confirms.
    # Tereza reads her mail a few minutes later.
    cloud.advance(timedelta(minutes=6), rate_resolution=None)
    [mail] = _mail_to(cloud, FORM_LEAD["email"])
    message = message_from_bytes(mail.read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/c/[A-Za-z0-9._~-]+", text).group(0)
    confirm_path = "/c/" + link.split("/c/", 1)[1]
    page = cloud.http("GET", confirm_path, token=None)
    pending = _ok(cloud.http("GET", f"/contacts/{tereza['contact_id']}"), "contact")["contact"]
    confirmed = cloud.http("POST", confirm_path, token=None, body="", headers={
        "content-type": "application/x-www-form-urlencoded", "user-agent": "Mozilla/5.0 (demo browser)"})
    ledger = _ok(cloud.http("GET", f"/contacts/{tereza['contact_id']}/consents"), "ledger")
    entries = ledger["entries"] if isinstance(ledger, dict) else ledger
    result["doi"] = {"mail": mail.name, "subject": str(message["Subject"]), "get_status": page.status,
                     "granted_before": bool((pending.get("marketing_consent") or {}).get("granted")),
                     "post_status": confirmed.status, "ledger": [e["state"] for e in entries]}
    note(f"Potvrzovací e-mail „{message['Subject']}“ → GET odkazu jen ukáže stránku (HTTP {page.status}), POST "
         f"potvrdí (HTTP {confirmed.status}); záznamy souhlasu: {' → '.join(reversed(result['doi']['ledger']))}")

    # 2. The same person again, another letter case, as JSON (a landing page's script): one contact, updated
    again = cloud.http("POST", "/forms/kontakt", token=None, json={
        "email": FORM_LEAD["email"].upper().replace("@PEKARNA", "@Pekarna"), "message": "Posílám ještě počet poboček: 3.",
        "submission_id": "landing-2"})
    same = [c for c in _scan(cloud, "ContactsTable")
            if (c.get("email") or "").lower() == FORM_LEAD["email"]]
    result["dedupe"] = {"status": again.status, "contacts": len(same)}
    note(f"Tatáž osoba znovu, e-mail velkými písmeny, JSON → HTTP {again.status}; kontaktů s touto adresou: "
         f"{len(same)} (aktualizován, ne zdvojen)")

    # 3. A robot fills the hidden honeypot field: it gets the same answer, nothing is written
    contacts_before = len(_scan(cloud, "ContactsTable"))
    robot = _post_form(cloud, {"email": "bot4711@spam.example", "website": "http://spam.example"}, form)
    result["honeypot"] = {"status": robot.status, "written": len(_scan(cloud, "ContactsTable")) - contacts_before}
    note(f"Robot vyplnil skryté pole „website“ → HTTP {robot.status} jako u člověka, uloženo: "
         f"{result['honeypot']['written']}")

    # 4. A chatbot conversation: the visitor asks for a price first, gives contact details later
    secret = cloud.client("secretsmanager").get_secret_value(
        SecretId=cloud.ref("ChatbotWebhookSecret"))["SecretString"]
    at = cloud.clock.now().isoformat()
    statuses = [
        _chatbot(cloud, secret, {"event_id": "chat-1", "type": "conversation.started", "conversation_id": "conv-77",
                                 "occurred_at": at, "data": {"page_url": "https://www.example.cz/cenik?utm_source=google"
                                                                         "&utm_medium=cpc"}}).status,
        _chatbot(cloud, secret, {"event_id": "chat-2", "type": "intent.expressed", "conversation_id": "conv-77",
                                 "occurred_at": at, "data": {"intent": "cenová nabídka",
                                                             "text": "Kolik stojí verze Pro pro 20 uživatelů?"}}).status,
        _chatbot(cloud, secret, {"event_id": "chat-3", "type": "contact.provided", "conversation_id": "conv-77",
                                 "occurred_at": at, "data": CHAT_LEAD | {"consent_marketing": False}}).status,
    ]
    replay = _chatbot(cloud, secret, {"event_id": "chat-3", "type": "contact.provided", "conversation_id": "conv-77",
                                      "occurred_at": at, "data": CHAT_LEAD | {"consent_marketing": False}}).status
    forged = _chatbot(cloud, secret, {"event_id": "chat-9", "type": "contact.provided", "conversation_id": "conv-78",
                                      "occurred_at": at, "data": {"email": "podvrh@example.cz"}}, forged=True).status
    michal = _contact_by_email(cloud, CHAT_LEAD["email"])
    michal_view = _ok(cloud.http("GET", f"/contacts/{michal['contact_id']}"), "contact")
    chats = [a for a in michal_view["activities"] if a["kind"] == "chat"]
    result["chatbot"] = {"statuses": statuses, "replay": replay, "forged": forged, "contact": michal,
                         "chat_activities": len(chats)}
    note(f"Chatbot (podepsané HMAC-SHA256 události) → HTTP {', '.join(map(str, statuses))}: lead "
         f"{michal['contact_id']} ({michal['lead_source']}, UTM {michal['utm'].get('utm_source')}), "
         f"{len(chats)} aktivity z konverzace; opakovaná událost → {replay}, podvržený podpis → {forged}")

    # 5. Lead scoring: Tereza reads the price list and opens and clicks the confirmation e-mail -> qualified
    for page_name in ("cenik", "reference", "funkce"):
        _ok(cloud.http("POST", "/activities", json={
            "contact_id": tereza["contact_id"], "kind": "page_view", "subject": f"https://www.example.cz/{page_name}",
            "activity_id": f"pv-{page_name}-{tereza['contact_id']}"}), "page view")
    message_id = cloud.message_ids_for(FORM_LEAD["email"])[-1]
    cloud.ses_event(message_id, "Open")
    cloud.ses_event(message_id, "Click", link="https://www.example.cz/cenik")
    scored = _ok(cloud.http("GET", f"/contacts/{tereza['contact_id']}"), "contact")
    task = next((t for t in scored["tasks"] if t.get("workflow") == "lead_scoring"), None)
    result["scoring"] = {"lead_score": scored["contact"]["lead_score"], "score": scored["contact"].get("score"),
                         "qualified_at": scored["contact"].get("qualified_at"), "task": task,
                         "chat_score": michal_view["contact"]["lead_score"]}
    note(f"Skóre leadu Terezy: {scored['contact']['lead_score']} bodů (profil + formulář + 3 stránky + otevření a "
         f"klik) → kvalifikovaný lead, úkol „{task['title'] if task else '–'}“ pro {task['owner'] if task else '–'}")

    # 6. A CSV list import from a trade fair, with its report
    report = _ok(cloud.http("POST", "/imports/contacts", body=SAMPLE_IMPORT.read_bytes(), query={
        "source": SAMPLE_IMPORT.name, "owner": "petr.svoboda"}, headers={"content-type": "text/csv; charset=utf-8"}),
        "import")
    result["import"] = report
    counts = report["counts"]
    note("Import CSV z veletrhu: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    # 7. A person on the erasure list writes in again: captured, but stays suppressed
    _post_form(cloud, {"email": ERASED_ARRIVING, "first_name": "Roman", "last_name": "Fiala"}, form)
    returning = _contact_by_email(cloud, ERASED_ARRIVING)
    held = _suppressions(cloud, returning["contact_id"])
    result["erased_returns"] = {"contact_id": returning["contact_id"], "suppressions": held}
    note(f"Adresa ze seznamu výmazů (GDPR) přišla znovu formulářem (velkými písmeny) → zachycena u kontaktu "
         f"{returning['contact_id']}, adresa zůstává potlačená ({', '.join(held)}): marketing mu nepůjde")

    # 8. Michal asks what we hold (Art. 15), then to be forgotten (Art. 17)
    exported = _ok(cloud.http("GET", f"/contacts/{michal['contact_id']}/export"), "export")
    result["export"] = {k: len(v) for k, v in exported.items() if isinstance(v, list)}
    needles = [CHAT_LEAD["email"], CHAT_LEAD["first_name"] + " " + CHAT_LEAD["last_name"], CHAT_LEAD["phone"],
               CHAT_LEAD["last_name"]]
    traces_before = _traces(cloud, needles)
    erased = _ok(cloud.http("POST", f"/contacts/{michal['contact_id']}/erase",
                            json={"confirm": michal["contact_id"], "reason": "Žádost GDPR č. 2026-031"}), "erase")
    gone = cloud.http("GET", f"/contacts/{michal['contact_id']}")
    result["erasure"] = {"response": erased, "traces_before": traces_before, "traces_after": _traces(cloud, needles),
                         "get_status": gone.status}
    back = cloud.http("POST", "/forms/kontakt", token=None, json={"email": CHAT_LEAD["email"].upper(),
                                                                 "consent_marketing": True})
    again_contact = _contact_by_email(cloud, CHAT_LEAD["email"])
    result["erasure"]["returns"] = {"status": back.status, "contact_id": again_contact["contact_id"],
                                    "suppressions": _suppressions(cloud, again_contact["contact_id"])}
    exported_counts = ", ".join(f"{k} {n}" for k, n in result["export"].items())
    note(f"Michal chce vědět, co o něm máme (čl. 15): export JSON ({exported_counts}); pak žádá výmaz (čl. 17) → "
         f"záznamů s jeho jménem, e-mailem nebo telefonem před: {traces_before}, po: "
         f"{result['erasure']['traces_after']}; GET kontaktu → {gone.status}; znovu z formuláře → adresa potlačená "
         f"({', '.join(result['erasure']['returns']['suppressions'])})")

    events = Counter(e["detail-type"] for e in cloud.bus_events()) - events_before
    result["events"] = {k: events.get(k, 0) for k in LEAD_EVENTS}
    note("Události na sběrnici během této části: " + ", ".join(f"{k} {n}" for k, n in result["events"].items()))
    return result


OUTCOME_CS = {"created": "založeno", "updated": "aktualizováno", "unchanged": "beze změny",
              "skipped_suppressed": "přeskočeno: potlačená adresa", "skipped_no_consent": "přeskočeno: bez souhlasu",
              "invalid": "chybný řádek"}


def print_leads_report(result: dict[str, Any], console: Console) -> None:
    table = Table(title="Leady z formuláře a chatbota", title_justify="left")
    for column in ("Kontakt", "Zdroj", "UTM", "Skóre", "Kvalifikován", "Souhlas s marketingem"):
        table.add_column(column)
    tereza, michal = result["form"]["contact"], result["chatbot"]["contact"]
    scoring = result["scoring"]
    table.add_row(f"{tereza['first_name']} {tereza['last_name']}", tereza["lead_source"],
                  ", ".join(f"{k}={v}" for k, v in tereza["utm"].items()), str(scoring["lead_score"]),
                  "ano" if scoring["qualified_at"] else "ne", "potvrzen (double opt-in)")
    table.add_row(f"{michal['first_name']} {michal['last_name']}", michal["lead_source"],
                  ", ".join(f"{k}={v}" for k, v in michal["utm"].items()), str(scoring["chat_score"]), "ne",
                  "nedal → marketing nepůjde")
    console.print(table)
    report = result["import"]
    table = Table(title=f"Import {SAMPLE_IMPORT.name}", title_justify="left")
    table.add_column("Výsledek")
    table.add_column("Řádků", justify="right")
    for outcome, count in report["counts"].items():
        table.add_row(OUTCOME_CS.get(outcome, outcome), str(count))
    console.print(table)
    for row in report["entries"]:
        console.print(f"  řádek {row['line']}: {OUTCOME_CS.get(row['outcome'], row['outcome'])}"
                      + (f" – {row['reason']}" if row.get("reason") else ""))
    erasure = result["erasure"]
    console.print(f"Výmaz: {erasure['response'].get('counts')}; míst s osobními údaji před {erasure['traces_before']}, "
                  f"po {erasure['traces_after']} (tabulky, indexy, e-maily); GET kontaktu → {erasure['get_status']}")
